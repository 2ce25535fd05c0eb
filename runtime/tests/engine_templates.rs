//! The engine layer's function templates behave as V8's: a function made from a template that
//! throws when constructed (`ConstructorBehavior::Throw`, as deno_core makes every op) has no
//! `prototype`; one that may be constructed has a prototype whose `constructor` is the
//! function. (v8x patch "Functions that cannot construct have no prototype": the engine layer
//! built a prototype object for every such function, about 1,000 objects per runtime.)

use deno_core::{JsRuntime, RuntimeOptions, v8};

fn noop(_: &mut v8::PinScope, _: v8::FunctionCallbackArguments, _: v8::ReturnValue) {}

#[test]
fn only_constructible_template_functions_get_a_prototype() {
    let mut runtime = JsRuntime::new(RuntimeOptions::default());
    deno_core::scope!(scope, runtime);
    let prototype = v8::String::new(scope, "prototype").expect("a string");
    let constructor = v8::String::new(scope, "constructor").expect("a string");

    let throwing = v8::FunctionTemplate::builder(noop)
        .constructor_behavior(v8::ConstructorBehavior::Throw)
        .build(scope)
        .get_function(scope)
        .expect("a function");
    assert_eq!(
        throwing.has_own_property(scope, prototype.into()),
        Some(false),
        "a function that cannot construct has no prototype"
    );

    let constructible = v8::FunctionTemplate::builder(noop)
        .build(scope)
        .get_function(scope)
        .expect("a function");
    assert_eq!(
        constructible.has_own_property(scope, prototype.into()),
        Some(true)
    );
    let object = constructible
        .get(scope, prototype.into())
        .expect("a prototype")
        .to_object(scope)
        .expect("an object");
    let back = object
        .get(scope, constructor.into())
        .expect("a constructor");
    assert!(back.strict_equals(constructible.into()));
}

/// A template's prototype and instance templates are made when first asked for (v8x patch
/// "Object templates are made on first use"); what is set on them reaches the function's
/// prototype and its instances as before.
#[test]
fn prototype_and_instance_templates_asked_for_shape_what_the_function_makes() {
    let mut runtime = JsRuntime::new(RuntimeOptions::default());
    deno_core::scope!(scope, runtime);
    let template = v8::FunctionTemplate::builder(noop).build(scope);
    let greeting = v8::String::new(scope, "greeting").expect("a string");
    let hello = v8::String::new(scope, "hello").expect("a string");
    template
        .prototype_template(scope)
        .set(greeting.into(), hello.into());
    template
        .instance_template(scope)
        .set_internal_field_count(2);
    let function = template.get_function(scope).expect("a function");
    let instance = function.new_instance(scope, &[]).expect("an instance");
    assert_eq!(instance.internal_field_count(), 2);
    let inherited = instance.get(scope, greeting.into()).expect("a value");
    assert_eq!(inherited.to_rust_string_lossy(scope), "hello");
    let prototype = v8::String::new(scope, "prototype").expect("a string");
    let own = function
        .get(scope, prototype.into())
        .expect("a prototype")
        .to_object(scope)
        .expect("an object");
    assert_eq!(own.has_own_property(scope, greeting.into()), Some(true));
}
