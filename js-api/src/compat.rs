//! Compatibility dates and flags: the one table of Workers behaviours that a script's
//! `compatibility_date` and `compatibility_flags` choose between, with Cloudflare's names and
//! dates, and how a script's choice resolves against it.
//!
//! Each entry is either *gated*: Skiff has both behaviours, and the script gets the new one
//! when its date reaches the entry's date or it names the enable flag, the old one when it
//! names the disable flag; or *always on*: Skiff has only the new behaviour, so the entry reads
//! `true` whatever the date, and naming its disable flag is refused rather than silently
//! ignored. A flag the table does not know is kept with the version and has no effect (it may
//! be one of Cloudflare's that Skiff has no behaviour for); a script sees it as `undefined` in
//! `Cloudflare.compatibilityFlags`, as workerd shows a flag it does not know.
//!
//! A script without a date gets every dated behaviour, as wrangler uses today's date when the
//! project names none.

use std::collections::HashSet;

/// One behaviour in the table.
struct CompatEntry {
    /// The flag that turns the behaviour on, and its name in `Cloudflare.compatibilityFlags`.
    enable: &'static str,
    /// The flag that turns it off, if there is one.
    disable: Option<&'static str>,
    /// The compatibility date from which it is on without its flag (`YYYY-MM-DD`).
    date: Option<&'static str>,
    /// Whether Skiff has the old behaviour too (see the module doc).
    gated: bool,
}

const TABLE: &[CompatEntry] = &[
    // `navigator` as a global.
    CompatEntry {
        enable: "global_navigator",
        disable: Some("no_global_navigator"),
        date: Some("2022-03-21"),
        gated: true,
    },
    // `navigator.language` and `navigator.languages`.
    CompatEntry {
        enable: "enable_navigator_language",
        disable: Some("disable_navigator_language"),
        date: Some("2025-05-19"),
        gated: true,
    },
    // The WHATWG URL parser (deno_url).
    CompatEntry {
        enable: "url_standard",
        disable: Some("url_original"),
        date: Some("2022-10-31"),
        gated: false,
    },
    // `new ReadableStream()` and `new WritableStream()` with the standard's arguments.
    CompatEntry {
        enable: "streams_enable_constructors",
        disable: Some("streams_disable_constructors"),
        date: Some("2022-11-30"),
        gated: false,
    },
    // `new TransformStream()` with the standard's arguments.
    CompatEntry {
        enable: "transformstream_enable_standard_constructor",
        disable: Some("transformstream_disable_standard_constructor"),
        date: Some("2022-11-30"),
        gated: false,
    },
    // `ctx.exports`: a loopback binding for each of the script's entrypoints (flag only, as
    // on Cloudflare for now).
    CompatEntry {
        enable: "enable_ctx_exports",
        disable: Some("disable_ctx_exports"),
        date: None,
        gated: true,
    },
];

/// What a script's date and flags resolve to: every entry of the table, on or off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compatibility(Vec<(&'static str, bool)>);

impl Compatibility {
    /// Resolves `date` and `flags` against the table, or says what is wrong with them, in
    /// workerd's words: a date that is not `YYYY-MM-DD`, a flag named twice, a flag and its
    /// opposite, or the disable flag of a behaviour that Skiff has only in its new form.
    pub fn resolve(date: Option<&str>, flags: &[String]) -> Result<Self, String> {
        if let Some(date) = date {
            check_date(date)?;
        }
        let mut named = HashSet::new();
        for flag in flags {
            if !named.insert(flag.as_str()) {
                return Err(format!(
                    "Compatibility flag specified multiple times: {flag}"
                ));
            }
        }
        let mut resolved = Vec::with_capacity(TABLE.len());
        for entry in TABLE {
            let enabled = named.contains(entry.enable);
            let disabled = entry.disable.is_some_and(|d| named.contains(d));
            if enabled && disabled {
                return Err(format!(
                    "Compatibility flags are mutually contradictory: {} vs {}",
                    entry.enable,
                    entry.disable.unwrap_or_default()
                ));
            }
            if disabled && !entry.gated {
                return Err(format!(
                    "The compatibility flag {} is not supported: Skiff always behaves as {}",
                    entry.disable.unwrap_or_default(),
                    entry.enable
                ));
            }
            let by_date = match (entry.date, date) {
                (Some(since), Some(date)) => date >= since,
                (Some(_), None) => true,
                (None, _) => false,
            };
            let on = !entry.gated || enabled || (by_date && !disabled);
            resolved.push((entry.enable, on));
        }
        Ok(Self(resolved))
    }

    /// Every entry of the table with its value, as `Cloudflare.compatibilityFlags` shows them.
    pub fn flags(&self) -> &[(&'static str, bool)] {
        &self.0
    }

    /// Whether the behaviour named by `enable` flag is on; false for a flag not in the table.
    pub fn is_on(&self, enable: &str) -> bool {
        self.0.iter().any(|&(name, on)| name == enable && on)
    }
}

impl Default for Compatibility {
    /// What a script without date or flags gets.
    fn default() -> Self {
        Self::resolve(None, &[]).unwrap_or(Self(Vec::new()))
    }
}

/// Refuses a date that is not a real `YYYY-MM-DD` day, with workerd's message.
fn check_date(date: &str) -> Result<(), String> {
    let invalid = || format!("Invalid compatibility date: {date}");
    let bytes = date.as_bytes();
    let shaped = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shaped {
        return Err(invalid());
    }
    let number = |range: std::ops::Range<usize>| date[range].parse::<u32>().unwrap_or(0);
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(invalid()),
    };
    if day == 0 || day > days {
        return Err(invalid());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn resolve(date: &str, names: &[&str]) -> Result<Compatibility, String> {
        Compatibility::resolve(Some(date), &flags(names))
    }

    #[test]
    fn a_dated_behaviour_starts_on_its_date() {
        let before = resolve("2025-05-18", &[]).expect("resolves");
        let on = resolve("2025-05-19", &[]).expect("resolves");
        assert!(!before.is_on("enable_navigator_language"));
        assert!(on.is_on("enable_navigator_language"));
        assert!(before.is_on("global_navigator"));
        assert!(
            !resolve("2022-03-20", &[])
                .expect("resolves")
                .is_on("global_navigator")
        );
    }

    #[test]
    fn flags_override_the_date_both_ways() {
        let early = resolve("2024-01-01", &["enable_navigator_language"]).expect("resolves");
        assert!(early.is_on("enable_navigator_language"));
        let late = resolve("2026-01-01", &["disable_navigator_language"]).expect("resolves");
        assert!(!late.is_on("enable_navigator_language"));
        assert!(
            !resolve("2026-01-01", &["no_global_navigator"])
                .expect("resolves")
                .is_on("global_navigator")
        );
    }

    #[test]
    fn no_date_means_every_dated_behaviour() {
        let compat = Compatibility::default();
        for entry in TABLE {
            // A behaviour without a date is on only by its flag.
            assert_eq!(
                compat.is_on(entry.enable),
                entry.date.is_some(),
                "{}",
                entry.enable
            );
        }
        assert_eq!(compat.flags().len(), TABLE.len());
    }

    #[test]
    fn behaviours_skiff_has_only_in_new_form_read_true_and_refuse_their_disable_flag() {
        let old = resolve("2020-01-01", &[]).expect("resolves");
        assert!(old.is_on("url_standard"));
        assert!(old.is_on("streams_enable_constructors"));
        let err = resolve("2026-01-01", &["url_original"]).expect_err("refused");
        assert_eq!(
            err,
            "The compatibility flag url_original is not supported: Skiff always behaves as url_standard"
        );
    }

    #[test]
    fn contradictions_and_repeats_are_refused_with_workerds_messages() {
        assert_eq!(
            resolve(
                "2026-01-01",
                &["enable_navigator_language", "disable_navigator_language"]
            )
            .expect_err("refused"),
            "Compatibility flags are mutually contradictory: enable_navigator_language vs disable_navigator_language"
        );
        assert_eq!(
            resolve("2026-01-01", &["nodejs_compat", "nodejs_compat"]).expect_err("refused"),
            "Compatibility flag specified multiple times: nodejs_compat"
        );
    }

    #[test]
    fn unknown_flags_are_kept_without_effect() {
        let compat =
            resolve("2026-01-01", &["nodejs_compat", "some_future_flag"]).expect("resolves");
        assert_eq!(compat, resolve("2026-01-01", &[]).expect("resolves"));
        assert!(!compat.is_on("nodejs_compat"));
    }

    #[test]
    fn dates_must_be_real_days() {
        for good in ["2024-02-29", "2026-12-31", "2000-02-29"] {
            assert!(resolve(good, &[]).is_ok(), "{good}");
        }
        for bad in [
            "2026-1-01",
            "2026/01/01",
            "2023-02-29",
            "1900-02-29",
            "2026-13-01",
            "2026-04-31",
            "2026-00-10",
            "2026-01-00",
            "today",
            "",
            "2026-01-01T00:00",
            "２０２６-01-01",
        ] {
            assert_eq!(
                resolve(bad, &[]).expect_err("refused"),
                format!("Invalid compatibility date: {bad}"),
                "{bad}"
            );
        }
    }
}
