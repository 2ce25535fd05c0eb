//! Drops comments and indentation from the extensions' JavaScript before it is embedded.
//!
//! The engine keeps the source text of every function (for `Function.prototype.toString`), a
//! copy per function and per nested function, in every runtime: about 2.2 MB of text in the
//! 3.3 MB startup snapshot. A third of the sources was deno's JSDoc comments and indentation;
//! without them the snapshot is 2.8 MB and an isolate about 0.3 MB smaller. Dropping them
//! changes no behaviour: a comment becomes a space (or a line break when it spanned lines, so
//! automatic semicolon insertion and line numbers stay the same), and only whitespace at the
//! start of a line goes. Strings, template literals and regular expressions are copied as they
//! are.
//!
//! The scanner tells a regular expression from a division by the token before the `/`: after
//! `)`, `]`, a literal or a name other than a keyword such as `return`, it divides. Anywhere
//! else it is read as a regular expression, if one closes on the same line, and copied as it
//! is (a division misread that way is copied unchanged too). On deno's sources as pinned, every
//! stripped file parses to the same syntax tree as its original (checked with acorn); the test
//! suites and the WPT run exercise them. Used by `build.rs` (included with `#[path]`) and
//! unit-tested in the crate.

/// Keywords after which a `/` starts a regular expression, not a division.
const REGEX_AFTER: &[&str] = &[
    "return",
    "typeof",
    "instanceof",
    "in",
    "of",
    "new",
    "delete",
    "void",
    "throw",
    "case",
    "do",
    "else",
    "yield",
    "await",
];

/// `source` without comments and without the whitespace that starts each line.
pub fn strip(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    // Open template literals: for each, how many `{` are open in its current `${ }`.
    let mut templates: Vec<usize> = Vec::new();
    let mut line_start = true;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if line_start && (b == b' ' || b == b'\t') {
            i += 1;
            continue;
        }
        line_start = false;
        match b {
            b'\n' => {
                line_start = true;
                out.push('\n');
                i += 1;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let Some(len) = source[i + 2..].find("*/") else {
                    // Unterminated: not ours to fix.
                    out.push_str(&source[i..]);
                    break;
                };
                let comment = &source[i..i + 2 + len + 2];
                out.push(if comment.contains('\n') { '\n' } else { ' ' });
                line_start = comment.contains('\n');
                i += comment.len();
            }
            b'/' if regex_allowed(&out) => {
                let end = regex_end(bytes, i).unwrap_or(i + 1);
                out.push_str(&source[i..end]);
                i = end;
            }
            b'\'' | b'"' => {
                let end = string_end(bytes, i);
                out.push_str(&source[i..end]);
                i = end;
            }
            b'`' => {
                templates.push(0);
                out.push('`');
                i = template_part(source, i + 1, &mut out, &mut templates);
            }
            b'{' => {
                if let Some(depth) = templates.last_mut() {
                    *depth += 1;
                }
                out.push('{');
                i += 1;
            }
            b'}' if templates.last() == Some(&0) => {
                // Closes a `${`: back inside the template literal.
                i = template_part(source, i, &mut out, &mut templates);
            }
            b'}' => {
                if let Some(depth) = templates.last_mut() {
                    *depth -= 1;
                }
                out.push('}');
                i += 1;
            }
            _ => {
                // Copy up to the next byte that needs a decision (keeps UTF-8 intact).
                let next = bytes[i + 1..]
                    .iter()
                    .position(|&c| matches!(c, b'\n' | b'/' | b'\'' | b'"' | b'`' | b'{' | b'}'))
                    .map_or(bytes.len(), |p| i + 1 + p);
                out.push_str(&source[i..next]);
                i = next;
            }
        }
    }
    out
}

/// Copies template literal text from `i` (just after the opening backtick, or at the `}` that
/// closes a `${ }`) up to the end of the literal or the next `${`; returns where code resumes.
fn template_part(
    source: &str,
    mut i: usize,
    out: &mut String,
    templates: &mut Vec<usize>,
) -> usize {
    let bytes = source.as_bytes();
    let start = i;
    if bytes.get(i) == Some(&b'}') {
        i += 1;
    }
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'`' => {
                templates.pop();
                i += 1;
                break;
            }
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                if let Some(depth) = templates.last_mut() {
                    *depth = 0;
                }
                i += 2;
                break;
            }
            _ => i += 1,
        }
    }
    let end = i.min(bytes.len());
    out.push_str(&source[start..end]);
    end
}

/// The end (exclusive) of the string literal that starts at `i`.
fn string_end(bytes: &[u8], i: usize) -> usize {
    let quote = bytes[i];
    let mut j = i + 1;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            c if c == quote => return j + 1,
            b'\n' => return j,
            _ => j += 1,
        }
    }
    bytes.len()
}

/// The end (exclusive, flags included) of a regular expression literal starting at `i`, or
/// `None` when none closes on this line (then the `/` was a division after all).
fn regex_end(bytes: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    let mut in_class = false;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'\n' | b'\r' => return None,
            b'[' => {
                in_class = true;
                j += 1;
            }
            b']' => {
                in_class = false;
                j += 1;
            }
            b'/' if !in_class => {
                j += 1;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric()) {
                    j += 1;
                }
                return Some(j);
            }
            _ => j += 1,
        }
    }
    None
}

/// Whether a `/` after what has been written so far starts a regular expression.
fn regex_allowed(out: &str) -> bool {
    let code = out.trim_end();
    let Some(last) = code.chars().last() else {
        return true;
    };
    if last.is_alphanumeric() || last == '_' || last == '$' {
        let word_start = code
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
            .map_or(0, |p| p + 1);
        return REGEX_AFTER.contains(&&code[word_start..]);
    }
    // After a value (`)`, `]`, a string, a template or a regex) a `/` divides.
    !matches!(last, ')' | ']' | '\'' | '"' | '`' | '/')
}

#[cfg(test)]
mod tests {
    use super::strip;

    #[test]
    fn comments_and_indentation_go() {
        let source = "/** A doc\n * comment. */\nfunction f(a) {\n    // a line comment\n    return a /* inline */ + 1;\n}\n";
        assert_eq!(strip(source), "\n\nfunction f(a) {\n\nreturn a   + 1;\n}\n");
    }

    #[test]
    fn literals_are_kept_as_they_are() {
        for code in [
            r#"const s = "// not a comment";"#,
            r#"const s = 'a /* b */ c';"#,
            "const t = `line one\n    // kept ${x /* gone? no: in code */ ? `inner // kept` : '}'} tail`;",
            r#"const r = /[/*]\/\//g.test(s);"#,
            r#"if (typeof /x*/ === "object") {}"#,
            r#"const d = a / b / c; // c"#,
            r#"return /\/\*/.source;"#,
            "const o = { a: 1 }; const q = `${ { a: '}' }.a }`;",
        ] {
            let stripped = strip(code);
            for kept in [
                "// not a comment",
                "a /* b */ c",
                "// kept",
                "inner // kept",
                "[/*]\\/\\//g",
                "/x*/",
                "/\\/\\*/",
                "'}'",
            ] {
                if code.contains(kept) {
                    assert!(
                        stripped.contains(kept),
                        "{kept:?} lost from {code:?}: {stripped:?}"
                    );
                }
            }
        }
        assert_eq!(strip("const d = a / b / c; // c"), "const d = a / b / c; ");
        assert_eq!(
            strip("x = `a${b /* c */}d`;"),
            "x = `a${b  }d`;",
            "a comment inside a template's expression goes"
        );
    }

    #[test]
    fn a_multi_line_comment_keeps_a_line_break() {
        assert_eq!(strip("a = b /* one\ntwo */\n(c)"), "a = b \n\n(c)");
        assert_eq!(strip("return /* x\n */ value"), "return \nvalue");
    }
}
