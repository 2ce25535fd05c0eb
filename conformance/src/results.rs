//! What one run of one test file produced: the harness status and a status per subtest, as the
//! generated worker reports them in JSON, or as the runner records a worker that never answered.

use serde::{Deserialize, Serialize};

/// The name under which a harness-level problem (the file threw, timed out as a whole, or the
/// worker did not answer) is recorded and expected, beside the real subtests.
pub const HARNESS: &str = "(harness)";

/// A subtest's status, as testharness.js names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Pass,
    Fail,
    Timeout,
    Notrun,
    PreconditionFailed,
}

/// The harness status of a whole file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HarnessStatus {
    Ok,
    Error,
    Timeout,
    PreconditionFailed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subtest {
    pub name: String,
    pub status: Status,
    #[serde(default)]
    pub message: Option<String>,
}

/// One file's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileResult {
    pub harness: HarnessStatus,
    #[serde(default)]
    pub harness_message: Option<String>,
    #[serde(default)]
    pub subtests: Vec<Subtest>,
}

impl FileResult {
    /// Parses the worker's JSON answer.
    pub fn parse(json: &str) -> Result<FileResult, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// A file whose worker gave no usable answer (failed to load, answered an error, timed out).
    pub fn broken(message: impl Into<String>) -> FileResult {
        FileResult {
            harness: HarnessStatus::Error,
            harness_message: Some(message.into()),
            subtests: Vec::new(),
        }
    }

    /// Every outcome to compare with expectations: each subtest (pass or not), and the harness
    /// as one more entry, named [`HARNESS`], that passes when its status is OK.
    pub fn outcomes(&self) -> Vec<(String, bool, String)> {
        let mut out = Vec::with_capacity(self.subtests.len() + 1);
        let harness_ok = self.harness == HarnessStatus::Ok;
        out.push((
            HARNESS.to_string(),
            harness_ok,
            describe(harness_name(self.harness), &self.harness_message),
        ));
        for subtest in &self.subtests {
            out.push((
                subtest.name.clone(),
                subtest.status == Status::Pass,
                describe(status_name(subtest.status), &subtest.message),
            ));
        }
        out
    }

    /// (passing subtests, subtests); a file with no subtests counts as one that passes when
    /// the harness is OK.
    pub fn tally(&self) -> (usize, usize) {
        if self.subtests.is_empty() {
            return (usize::from(self.harness == HarnessStatus::Ok), 1);
        }
        let passed = self
            .subtests
            .iter()
            .filter(|s| s.status == Status::Pass)
            .count();
        (passed, self.subtests.len())
    }
}

pub fn status_name(status: Status) -> &'static str {
    match status {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Timeout => "TIMEOUT",
        Status::Notrun => "NOTRUN",
        Status::PreconditionFailed => "PRECONDITION_FAILED",
    }
}

pub fn harness_name(status: HarnessStatus) -> &'static str {
    match status {
        HarnessStatus::Ok => "OK",
        HarnessStatus::Error => "ERROR",
        HarnessStatus::Timeout => "TIMEOUT",
        HarnessStatus::PreconditionFailed => "PRECONDITION_FAILED",
    }
}

/// `STATUS: first line of the message`, cut to a readable length.
fn describe(status: &str, message: &Option<String>) -> String {
    match message.as_deref().and_then(|m| m.lines().next()) {
        Some(line) if !line.trim().is_empty() => {
            let line: String = line.chars().take(160).collect();
            format!("{status}: {line}")
        }
        _ => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_worker_reports() {
        let json = r#"{"harness":"OK","harness_message":null,"subtests":[
            {"name":"a","status":"PASS","message":null},
            {"name":"b","status":"FAIL","message":"assert_equals: expected 1 but got 2\nstack"},
            {"name":"c","status":"TIMEOUT"},
            {"name":"d","status":"NOTRUN","message":null},
            {"name":"e","status":"PRECONDITION_FAILED","message":"no"}]}"#;
        let result = FileResult::parse(json).expect("parses");
        assert_eq!(result.harness, HarnessStatus::Ok);
        let statuses: Vec<Status> = result.subtests.iter().map(|s| s.status).collect();
        assert_eq!(
            statuses,
            [
                Status::Pass,
                Status::Fail,
                Status::Timeout,
                Status::Notrun,
                Status::PreconditionFailed
            ]
        );
        assert_eq!(result.tally(), (1, 5));
        let outcomes = result.outcomes();
        assert_eq!(outcomes[0], (HARNESS.to_string(), true, "OK".to_string()));
        assert_eq!(
            outcomes[2],
            (
                "b".to_string(),
                false,
                "FAIL: assert_equals: expected 1 but got 2".to_string()
            )
        );
    }

    #[test]
    fn rejects_unknown_statuses() {
        assert!(FileResult::parse(r#"{"harness":"MAYBE","subtests":[]}"#).is_err());
        assert!(
            FileResult::parse(r#"{"harness":"OK","subtests":[{"name":"x","status":"SORT_OF"}]}"#)
                .is_err()
        );
    }

    #[test]
    fn a_broken_file_is_one_failing_harness_entry() {
        let result = FileResult::broken("HTTP 500");
        assert_eq!(result.tally(), (0, 1));
        assert_eq!(
            result.outcomes(),
            [(HARNESS.to_string(), false, "ERROR: HTTP 500".to_string())]
        );
        let timed_out = FileResult {
            harness: HarnessStatus::Timeout,
            harness_message: None,
            subtests: vec![],
        };
        assert_eq!(timed_out.outcomes()[0].2, "TIMEOUT");
    }
}
