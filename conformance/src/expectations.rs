//! Expected failures: for each test file (with its variant), the subtests Skiff is known to
//! fail, each with a one-line reason. A run is judged against them: a failure that is not
//! listed is a regression, and a listed subtest that passes (or no longer exists) means the
//! list must shrink. Both fail the run.
//!
//! On disk one JSON object per WPT directory: `{ "file.any.js?variant": { "subtest": "reason" } }`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use crate::reasons;

/// file (with variant) -> subtest -> reason.
pub type Expectations = BTreeMap<String, BTreeMap<String, String>>;

/// Reads an expectation file; a missing file means nothing is expected to fail.
pub fn load(path: &Path) -> anyhow::Result<Expectations> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Expectations::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes expectations as stable, reviewable JSON (sorted keys, two-space indent, final newline).
pub fn save(path: &Path, expectations: &Expectations) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut text = serde_json::to_string_pretty(expectations)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Where a run and its expectations disagree.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// (file, subtest, what happened): failed but not expected to.
    pub unexpected_failures: Vec<(String, String, String)>,
    /// (file, subtest): expected to fail but passed.
    pub unexpected_passes: Vec<(String, String)>,
    /// (file, subtest): expected to fail, but the run of that file has no such subtest.
    pub stale: Vec<(String, String)>,
}

impl Verdict {
    pub fn is_clean(&self) -> bool {
        self.unexpected_failures.is_empty()
            && self.unexpected_passes.is_empty()
            && self.stale.is_empty()
    }
}

/// Compares a run with expectations. `run` maps each file that ran to its outcomes
/// (subtest, passed, description); files that did not run are not judged.
pub fn judge(
    expected: &Expectations,
    run: &BTreeMap<String, Vec<(String, bool, String)>>,
) -> Verdict {
    let empty = BTreeMap::new();
    let mut verdict = Verdict::default();
    for (file, outcomes) in run {
        let listed = expected.get(file).unwrap_or(&empty);
        for (subtest, passed, description) in outcomes {
            match (listed.contains_key(subtest), passed) {
                (false, false) => verdict.unexpected_failures.push((
                    file.clone(),
                    subtest.clone(),
                    description.clone(),
                )),
                (true, true) => verdict
                    .unexpected_passes
                    .push((file.clone(), subtest.clone())),
                _ => {}
            }
        }
        for subtest in listed.keys() {
            if !outcomes.iter().any(|(name, _, _)| name == subtest) {
                verdict.stale.push((file.clone(), subtest.clone()));
            }
        }
    }
    verdict
}

/// The expectations a run implies: every failing outcome, with the reason the old expectations
/// give when someone wrote it by hand, and otherwise `reason(file, subtest, description)` (see
/// [`crate::reasons`]: raw messages and reasons the rule table gives are derived again).
pub fn from_run(
    previous: &Expectations,
    run: &BTreeMap<String, Vec<(String, bool, String)>>,
    reason: impl Fn(&str, &str, &str) -> String,
) -> Expectations {
    let mut out = Expectations::new();
    for (file, outcomes) in run {
        for (subtest, passed, description) in outcomes {
            if *passed {
                continue;
            }
            let reason = previous
                .get(file)
                .and_then(|listed| listed.get(subtest))
                .filter(|written| !reasons::is_raw(written) && !reasons::is_derived(written))
                .cloned()
                .unwrap_or_else(|| reason(file, subtest, description));
            out.entry(file.clone())
                .or_default()
                .insert(subtest.clone(), reason);
        }
    }
    // Files that did not run this time keep their entries.
    for (file, listed) in previous {
        if !run.contains_key(file) {
            out.insert(file.clone(), listed.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(name: &str, passed: bool) -> (String, bool, String) {
        (
            name.to_string(),
            passed,
            if passed { "PASS" } else { "FAIL: x" }.to_string(),
        )
    }

    fn expectations(entries: &[(&str, &str)]) -> Expectations {
        let mut out = Expectations::new();
        for (file, subtest) in entries {
            out.entry(file.to_string())
                .or_default()
                .insert(subtest.to_string(), "known".to_string());
        }
        out
    }

    #[test]
    fn a_run_that_matches_is_clean() {
        let expected = expectations(&[("a.any.js", "two")]);
        let run = BTreeMap::from([(
            "a.any.js".to_string(),
            vec![outcome("one", true), outcome("two", false)],
        )]);
        assert!(judge(&expected, &run).is_clean());
    }

    #[test]
    fn unexpected_failures_passes_and_stale_entries_are_reported() {
        let expected = expectations(&[
            ("a.any.js", "fixed"),
            ("a.any.js", "renamed"),
            ("not-run.any.js", "whatever"),
        ]);
        let run = BTreeMap::from([(
            "a.any.js".to_string(),
            vec![outcome("fixed", true), outcome("broken", false)],
        )]);
        let verdict = judge(&expected, &run);
        assert_eq!(
            verdict.unexpected_failures,
            [(
                "a.any.js".to_string(),
                "broken".to_string(),
                "FAIL: x".to_string()
            )]
        );
        assert_eq!(
            verdict.unexpected_passes,
            [("a.any.js".to_string(), "fixed".to_string())]
        );
        assert_eq!(
            verdict.stale,
            [("a.any.js".to_string(), "renamed".to_string())]
        );
        assert!(!verdict.is_clean());
    }

    #[test]
    fn updating_keeps_reasons_and_files_that_did_not_run() {
        let mut previous = expectations(&[("a.any.js", "two"), ("b.any.js", "x")]);
        previous
            .get_mut("a.any.js")
            .expect("a")
            .insert("two".into(), "hand-written reason".into());
        // A raw message from an older run is derived again, not kept.
        previous
            .get_mut("a.any.js")
            .expect("a")
            .insert("one".into(), "FAIL: an old message".into());
        let run = BTreeMap::from([(
            "a.any.js".to_string(),
            vec![
                outcome("one", false),
                outcome("two", false),
                outcome("three", true),
            ],
        )]);
        let updated = from_run(&previous, &run, |_, subtest, _| {
            format!("derived for {subtest}")
        });
        let a = &updated["a.any.js"];
        assert_eq!(a["one"], "derived for one");
        assert_eq!(a["two"], "hand-written reason");
        assert!(!a.contains_key("three"));
        assert!(updated.contains_key("b.any.js"));
        assert!(judge(&updated, &run).is_clean());
    }

    #[test]
    fn files_round_trip_and_missing_files_are_empty() {
        let dir = std::env::temp_dir().join(format!("skiff-conf-exp-{}", std::process::id()));
        let path = dir.join("x/y.json");
        assert!(load(&path).expect("missing is fine").is_empty());
        let expected = expectations(&[("a.any.js", "two")]);
        save(&path, &expected).expect("save");
        assert_eq!(load(&path).expect("load"), expected);
        std::fs::write(&path, "{ not json").expect("write");
        assert!(load(&path).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
