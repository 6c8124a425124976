//! A finding of `hoop config check` about a configuration that loads but does not say what its
//! author meant: a claim name no issuer sends, a pattern that can match nothing, a rule no
//! statement can reach. Each layer that owns a section lints it; `config` finds the line.

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The configuration works, but probably not as meant.
    Warning,
    /// The configuration cannot work as written (`config check` fails).
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One finding, at one key of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// The key at fault, as a path into the file: `rules[2].columns[0]`,
    /// `trust[0].claims.enviroment` (indices count from 0 within each array of tables).
    pub key: String,
    /// What is wrong, in one sentence.
    pub message: String,
    /// What to write instead.
    pub fix: String,
}

impl Finding {
    pub fn warning(
        key: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            severity: Severity::Warning,
            key: key.into(),
            message: message.into(),
            fix: fix.into(),
        }
    }

    pub fn error(
        key: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            severity: Severity::Error,
            ..Finding::warning(key, message, fix)
        }
    }
}

/// `name` as one step of a key path: bare when TOML allows it (`environment`), quoted otherwise
/// (`claims."x.y"`), so a name with a dot stays one step.
pub fn key_step(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}

/// The candidate `word` was most likely meant as: the closest by edit distance (a swap of two
/// neighbouring letters counts as one edit), when it is close enough to be a typo: one edit in
/// a word of up to four letters, two up to eight, three beyond. Ties go to the first candidate.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = match word.chars().count() {
        0..=4 => 1,
        5..=8 => 2,
        _ => 3,
    };
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let d = edit_distance(word, candidate);
        if d > 0 && d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// Optimal string alignment distance: insertions, deletions, substitutions and transpositions
/// of neighbours, each one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = v;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_the_word_meant() {
        let words = [
            "environment",
            "event_name",
            "ref",
            "ref_type",
            "repository_id",
        ];
        assert_eq!(nearest("enviroment", words), Some("environment"));
        assert_eq!(nearest("enviornment", words), Some("environment"));
        assert_eq!(nearest("event-name", words), Some("event_name"));
        assert_eq!(nearest("refs", words), Some("ref"));
        assert_eq!(nearest("ref_typ", words), Some("ref_type"));
        assert_eq!(nearest("repo_id", words), None, "too far to be a typo");
        assert_eq!(nearest("team", words), None);
        assert_eq!(nearest("ref", words), None, "an exact match is no typo");
    }

    #[test]
    fn steps_quote_what_toml_would() {
        assert_eq!(key_step("environment"), "environment");
        assert_eq!(key_step("repo_property_team-x"), "repo_property_team-x");
        assert_eq!(key_step("a.b"), "\"a.b\"");
    }

    #[test]
    fn edit_distance_counts_swaps_as_one() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", "acb"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("push", "push"), 0);
    }
}
