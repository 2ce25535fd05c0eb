//! The bundle written in ASCII, as esbuild (wrangler's bundler) writes it by default: each
//! character past U+007F becomes an escape that means the same, in a string, a regular
//! expression, a template literal, a name or a comment.
//!
//! Why: a JavaScript engine keeps a text whose characters all fit in a byte at one byte a
//! character, and any other text at two. One emoji in an 800 KiB bundle doubled the source
//! text a node hands the engine on every load, and the text the engine keeps for each
//! function's `toString()`; the same bundle written in ASCII started a new isolate about 9 %
//! sooner (bench/README.md).
//!
//! Where an escape would not mean the same, the character stays: in a tagged template, whose
//! tag sees the raw text. Where a character is in a place this does not expect (outside any
//! literal, name or comment), after a backslash, or where the text has a line separator
//! (U+2028, U+2029) or a carriage return, which engines count as line ends, the module is
//! left as it is. The source map's columns are moved by what each escape added to its line.

use oxc::allocator::Allocator;
use oxc::ast::ast::{
    BindingIdentifier, IdentifierName, IdentifierReference, LabelIdentifier, PrivateIdentifier,
    RegExpLiteral, StringLiteral, TaggedTemplateExpression, TemplateElement,
};
use oxc::ast_visit::Visit;
use oxc::parser::Parser;
use oxc::span::{SourceType, Span};
use oxc_sourcemap::{SourceMap, Token};

/// How a character is written in each kind of place.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Place {
    /// A string, an untagged template's text, a regular expression: `\uXXXX` for each UTF-16
    /// unit (in a regular expression with the `u` or `v` flag, a pair of them is one code point).
    Literal,
    /// A name: `\uXXXX`, or `\u{X}` past the BMP (a pair of escapes is no name).
    Name,
    /// A comment: anything that is not a line end will do.
    Comment,
    /// A tagged template's text, which its tag may read raw: kept.
    Raw,
}

/// `code` in ASCII and `map` with its columns moved to match, or `None` when the module is
/// to stay as it is (already ASCII, or see the module docs).
pub fn escape(code: &str, map: Option<&SourceMap>) -> Option<(String, Option<SourceMap>)> {
    if code.is_ascii() || code.contains(['\r', '\u{2028}', '\u{2029}']) {
        return None;
    }
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, code, SourceType::mjs()).parse();
    if parsed.panicked || !parsed.errors.is_empty() {
        return None;
    }
    let mut places = Places(Vec::new());
    places.visit_program(&parsed.program);
    for comment in &parsed.program.comments {
        places.0.push((comment.span, Place::Comment));
    }
    places.0.sort_by_key(|(span, _)| span.start);

    let mut out = String::with_capacity(code.len() + code.len() / 16);
    // Per line, the UTF-16 column of each escaped character and what its escape added.
    let mut shifts: Vec<Vec<(u32, u32)>> = vec![Vec::new()];
    let mut column = 0u32;
    for (at, c) in code.char_indices() {
        if c == '\n' {
            shifts.push(Vec::new());
            column = 0;
            out.push(c);
            continue;
        }
        let units = c.len_utf16() as u32;
        if c.is_ascii() {
            out.push(c);
            column += units;
            continue;
        }
        let place = places.at(at as u32)?;
        if place != Place::Comment && code[..at].ends_with('\\') {
            // `\é` (the character itself) or a line continuation: left to the engine.
            return None;
        }
        let before = out.len();
        match place {
            Place::Raw => out.push(c),
            Place::Literal | Place::Comment => {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            Place::Name if units == 1 => out.push_str(&format!("\\u{:04x}", c as u32)),
            Place::Name => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
        let written = if place == Place::Raw {
            units
        } else {
            (out.len() - before) as u32
        };
        if written != units {
            shifts
                .last_mut()
                .expect("a line")
                .push((column, written - units));
        }
        column += units;
    }
    let map = map.map(|map| moved(map, &shifts));
    Some((out, map))
}

/// Where non-ASCII characters may be, by span.
struct Places(Vec<(Span, Place)>);

impl Places {
    /// The place holding byte `at`, if any (spans do not overlap but for the nested ones a
    /// template's expressions make, which are visited apart and come later in order).
    fn at(&self, at: u32) -> Option<Place> {
        let after = self.0.partition_point(|(span, _)| span.start <= at);
        self.0[..after]
            .iter()
            .rev()
            .find(|(span, _)| at < span.end)
            .map(|(_, place)| *place)
    }
}

impl<'a> Visit<'a> for Places {
    fn visit_string_literal(&mut self, it: &StringLiteral<'a>) {
        self.0.push((it.span, Place::Literal));
    }
    fn visit_reg_exp_literal(&mut self, it: &RegExpLiteral<'a>) {
        self.0.push((it.span, Place::Literal));
    }
    fn visit_template_element(&mut self, it: &TemplateElement<'a>) {
        self.0.push((it.span, Place::Literal));
    }
    fn visit_tagged_template_expression(&mut self, it: &TaggedTemplateExpression<'a>) {
        self.visit_expression(&it.tag);
        for quasi in &it.quasi.quasis {
            self.0.push((quasi.span, Place::Raw));
        }
        for expression in &it.quasi.expressions {
            self.visit_expression(expression);
        }
    }
    fn visit_identifier_name(&mut self, it: &IdentifierName<'a>) {
        self.0.push((it.span, Place::Name));
    }
    fn visit_identifier_reference(&mut self, it: &IdentifierReference<'a>) {
        self.0.push((it.span, Place::Name));
    }
    fn visit_binding_identifier(&mut self, it: &BindingIdentifier<'a>) {
        self.0.push((it.span, Place::Name));
    }
    fn visit_label_identifier(&mut self, it: &LabelIdentifier<'a>) {
        self.0.push((it.span, Place::Name));
    }
    fn visit_private_identifier(&mut self, it: &PrivateIdentifier<'a>) {
        self.0.push((it.span, Place::Name));
    }
}

/// `map` with each generated column moved by what the escapes before it on its line added.
fn moved(map: &SourceMap, shifts: &[Vec<(u32, u32)>]) -> SourceMap {
    let tokens: Vec<Token> = map
        .get_tokens()
        .map(|token| {
            let line = token.get_dst_line();
            let column = token.get_dst_col();
            let added: u32 = shifts
                .get(line as usize)
                .map(|line| {
                    line.iter()
                        .take_while(|(at, _)| *at < column)
                        .map(|(_, added)| added)
                        .sum()
                })
                .unwrap_or(0);
            Token::new(
                line,
                column + added,
                token.get_src_line(),
                token.get_src_col(),
                token.get_source_id(),
                token.get_name_id(),
            )
        })
        .collect();
    let mut moved = SourceMap::new(
        map.get_file().cloned(),
        map.get_names().cloned().collect(),
        map.get_source_root().map(str::to_string),
        map.get_sources().cloned().collect(),
        map.get_source_contents().map(|c| c.cloned()).collect(),
        tokens.into_boxed_slice(),
        None,
    );
    if let Some(ignored) = map.get_x_google_ignore_list() {
        moved.set_x_google_ignore_list(ignored.to_vec());
    }
    if let Some(id) = map.get_debug_id() {
        moved.set_debug_id(id);
    }
    moved
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ascii(code: &str) -> Option<String> {
        escape(code, None).map(|(code, _)| code)
    }

    #[test]
    fn each_place_gets_its_escape() {
        let code = "// Grüße\nconst café = \"é😀\", t = `ü${café}ß`, r = /[à-ÿ]😀/u;\n\
                    class K { #ñ = 1; 𝑥() { return this.#ñ; } }\n\
                    label: for (const ö of [1]) break label;\n";
        assert_eq!(
            ascii(code).expect("escaped"),
            "// Gr\\u00fc\\u00dfe\nconst caf\\u00e9 = \"\\u00e9\\ud83d\\ude00\", \
             t = `\\u00fc${caf\\u00e9}\\u00df`, r = /[\\u00e0-\\u00ff]\\ud83d\\ude00/u;\n\
             class K { #\\u00f1 = 1; \\u{1d465}() { return this.#\\u00f1; } }\n\
             label: for (const \\u00f6 of [1]) break label;\n"
        );
    }

    #[test]
    fn a_tagged_templates_text_stays_and_its_expressions_are_escaped() {
        assert_eq!(
            ascii("String.raw`é${\"é\"}ü`;").expect("escaped"),
            "String.raw`é${\"\\u00e9\"}ü`;"
        );
    }

    #[test]
    fn what_an_escape_would_change_leaves_the_module_as_it_is() {
        for code in [
            "x = '\\é';",           // the character itself, after a backslash
            "x = '\u{2028}';",      // a line separator, which engines count as a line end
            "x = 1;\r\ny = 'é';",   // a carriage return
            "x = 1;\u{a0}y = 'é';", // a space that is no ASCII space, outside any literal
            "x = 'ascii only';",    // nothing to do
            "x = 'é' +;",           // not JavaScript
        ] {
            assert_eq!(ascii(code), None, "{code:?}");
        }
    }

    #[test]
    fn the_maps_columns_move_with_what_escapes_added_before_them() {
        let code = "let a = 'é😀', b = c;\nlet d = 'é';\n";
        let tokens = vec![
            Token::new(0, 4, 0, 4, Some(0), None),   // a: before the string
            Token::new(0, 15, 0, 15, Some(0), None), // b: after it, 5 + 10 added
            Token::new(1, 4, 1, 4, Some(0), None),   // d: on a line of its own
        ];
        let map = SourceMap::new(
            None,
            Vec::new(),
            None,
            vec!["src.js".into()],
            vec![None],
            tokens.into_boxed_slice(),
            None,
        );
        let (out, map) = escape(code, Some(&map)).expect("escaped");
        let map = map.expect("a map");
        let columns: Vec<_> = map.get_tokens().map(|t| t.get_dst_col()).collect();
        assert_eq!(columns, [4, 30, 4]);
        assert_eq!(&out.lines().next().expect("a line")[30..31], "b");
    }
}
