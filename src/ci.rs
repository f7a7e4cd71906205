//! ci: what makes a laptop run and a CI job the same run. [`Shard`] (`--shard K/N`) takes a
//! [`Plan`] and narrows it to the gates shard K owns, plus their dependencies; ownership is a
//! stable hash of the gate name, so every machine computes the same split without talking to
//! the others, and the union of the shards' owned gates is the whole selection with no gate
//! twice. [`enabled`] decides `--ci`; [`github`] renders a GitHub Actions workflow that runs
//! the same target.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::graph::Graph;
use crate::plan::{Decision, Plan};

/// `--shard K/N`: this machine is shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let usage = "write K/N, with 1 <= K <= N (e.g. --shard 2/4 runs the second of four shards)";
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not K/N: {usage}"))?;
        let number = |part: &str| part.trim().parse::<u32>().ok();
        match (number(index), number(count)) {
            (Some(index), Some(count)) if count >= 1 && (1..=count).contains(&index) => {
                Ok(Shard { index, count })
            }
            (Some(_), Some(0)) => Err(format!("`{text}`: N must be at least 1; {usage}")),
            (Some(_), Some(_)) => Err(format!("`{text}`: K must be between 1 and N; {usage}")),
            _ => Err(format!("`{text}` is not K/N: {usage}")),
        }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The shard (1-based) that owns a gate out of `count`: the first eight bytes of the
    /// blake3 hash of its name, little-endian, modulo `count`. Never changes between
    /// versions: two machines running different builds of gate must agree.
    pub fn owner(gate: &str, count: u32) -> u32 {
        let hash = blake3::hash(gate.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&hash.as_bytes()[..8]);
        (u64::from_le_bytes(first) % u64::from(count.max(1))) as u32 + 1
    }

    /// Narrows a plan to this shard: the gates it owns (groups are owned by no shard), and
    /// their dependencies, which come from the cache when another shard stored them. Returns
    /// the narrowed plan and the owned gates in plan order.
    pub fn narrow(&self, plan: Plan, graph: &Graph) -> (Plan, Vec<String>) {
        let owned: Vec<String> = plan
            .steps
            .iter()
            .filter(|step| !matches!(step.decision, Decision::Group))
            .filter(|step| Shard::owner(&step.gate, self.count) == self.index)
            .map(|step| step.gate.clone())
            .collect();
        let keep: BTreeSet<&str> = graph
            .closure(owned.iter().map(String::as_str))
            .into_iter()
            .collect();
        let steps = plan
            .steps
            .into_iter()
            .filter(|step| keep.contains(step.gate.as_str()))
            .collect();
        let plan = Plan {
            targets: plan.targets,
            steps,
        };
        (plan, owned)
    }
}

/// Whether a run is a CI run: `--ci`, or `CI` set to `true` or `1` (as GitHub Actions,
/// GitLab CI and most others set it) unless `--no-ci`.
pub fn enabled(flag: bool, no_flag: bool, env: Option<&std::ffi::OsStr>) -> bool {
    if no_flag {
        return false;
    }
    flag || env.is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// What `gate ci github` was asked for.
#[derive(Debug, Clone, Default)]
pub struct Workflow {
    /// The target to run; `None` runs the graph's default.
    pub target: Option<String>,
    /// Shards to split the run over (1: no matrix).
    pub shards: u32,
    /// Commands that install gate, instead of `cargo install --git REPOSITORY`.
    pub install: Vec<String>,
    /// Where gate's source lives (Cargo.toml's `repository`).
    pub repository: String,
    /// The cache directory, relative to the root.
    pub cache_dir: String,
}

/// A repository URL that cannot be installed from (the placeholder in Cargo.toml).
pub fn placeholder(repository: &str) -> bool {
    repository.is_empty() || repository.contains("example.invalid")
}

/// A GitHub Actions workflow (YAML) that installs gate, restores and saves the cache
/// directory, runs `gate run --ci TARGET` (one job per shard), and uploads the run record
/// and a JUnit report.
pub fn github(workflow: &Workflow) -> String {
    let shards = workflow.shards.max(1);
    let target = workflow.target.as_deref().unwrap_or("");
    let mut out = String::new();
    let mut invocation = String::from("gate ci github");
    if !target.is_empty() {
        let _ = write!(invocation, " {target}");
    }
    if shards > 1 {
        let _ = write!(invocation, " --shards {shards}");
    }
    let _ = writeln!(
        out,
        "# Generated by `{invocation}`: the same gates.kdl target CI and laptops run.\n\
         # Regenerate it rather than edit it."
    );
    out.push_str(
        "name: gate\n\
         on:\n  push:\n    branches: [main]\n  pull_request:\n  workflow_dispatch:\n\
         permissions:\n  contents: read\n\
         jobs:\n  gate:\n",
    );
    let label = if target.is_empty() {
        "gate run".to_owned()
    } else {
        format!("gate run {target}")
    };
    if shards > 1 {
        let _ = writeln!(
            out,
            "    name: {} (shard ${{{{ matrix.shard }}}}/{shards})",
            yaml_plain(&label)
        );
    } else {
        let _ = writeln!(out, "    name: {}", yaml_plain(&label));
    }
    out.push_str("    runs-on: ubuntu-latest\n");
    if shards > 1 {
        let list: Vec<String> = (1..=shards).map(|k| k.to_string()).collect();
        let _ = writeln!(
            out,
            "    strategy:\n      fail-fast: false\n      matrix:\n        shard: [{}]",
            list.join(", ")
        );
    }
    out.push_str("    steps:\n      - uses: actions/checkout@v5\n");
    if workflow.install.is_empty() {
        // A release build takes minutes; the binary of the same gate version is kept.
        let _ = write!(
            out,
            "      - name: Cache the gate binary\n\
             \x20       uses: actions/cache@v4\n\
             \x20       with:\n\
             \x20         path: ~/.cargo/bin/gate\n\
             \x20         key: gate-bin-${{{{ runner.os }}}}-{}\n",
            env!("CARGO_PKG_VERSION")
        );
    }
    out.push_str("      - name: Install gate\n");
    if workflow.install.is_empty() {
        if placeholder(&workflow.repository) {
            let _ = writeln!(
                out,
                "        # This build of gate names no real repository ({}): replace the URL,\n        # or regenerate with --install 'COMMANDS'.",
                workflow.repository
            );
        }
        let _ = writeln!(
            out,
            "        run: |\n          command -v gate >/dev/null || cargo install --locked --git {} gate",
            shell_word(&workflow.repository)
        );
    } else {
        out.push_str("        run: |\n");
        for command in &workflow.install {
            for line in command.lines() {
                let _ = writeln!(out, "          {line}");
            }
        }
    }
    let suffix = if shards > 1 {
        "-${{ matrix.shard }}"
    } else {
        ""
    };
    let hash = "${{ hashFiles('**/*.kdl') }}";
    let _ = write!(
        out,
        "      - name: Restore and save the gate cache\n\
         \x20       uses: actions/cache@v4\n\
         \x20       with:\n\
         \x20         path: {cache}\n\
         \x20         key: gate-${{{{ runner.os }}}}-{hash}-${{{{ github.sha }}}}{suffix}\n\
         \x20         restore-keys: |\n\
         \x20           gate-${{{{ runner.os }}}}-{hash}-\n\
         \x20           gate-${{{{ runner.os }}}}-\n",
        cache = yaml_plain(&workflow.cache_dir),
    );
    let mut command = String::from("gate run --ci");
    if !target.is_empty() {
        let _ = write!(command, " {}", shell_word(target));
    }
    if shards > 1 {
        let _ = write!(command, " --shard ${{{{ matrix.shard }}}}/{shards}");
    }
    command.push_str(" --junit gate-junit.xml");
    let _ = write!(
        out,
        "      - name: {}\n        run: {command}\n",
        yaml_plain(format!("gate run --ci {target}").trim_end())
    );
    let _ = write!(
        out,
        "      - name: Upload the run record and JUnit report\n\
         \x20       if: always()\n\
         \x20       uses: actions/upload-artifact@v4\n\
         \x20       with:\n\
         \x20         name: gate-run{suffix}\n\
         \x20         path: |\n\
         \x20           .gate/runs/latest/\n\
         \x20           gate-junit.xml\n\
         \x20         include-hidden-files: true\n\
         \x20         if-no-files-found: ignore\n"
    );
    out
}

/// A YAML scalar: plain when that reads back as the same string, else single-quoted.
fn yaml_plain(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " ._/-:@+".contains(c))
        && !text.starts_with(['-', ':', ' ', '@'])
        && !text.ends_with([' ', ':'])
        && !text.contains(": ")
        && !text.contains(" #");
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "''"))
    }
}

/// A word the shell reads back as itself.
fn shell_word(text: &str) -> String {
    shlex::try_quote(text)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn case(text: &str, expected: Result<(u32, u32), &str>) {
        let parsed = text.parse::<Shard>().map(|s| (s.index, s.count));
        match expected {
            Ok(pair) => assert_eq!(parsed, Ok(pair), "{text}"),
            Err(part) => {
                let error = parsed.expect_err(text);
                assert!(error.contains(part), "{text}: {error}");
            }
        }
    }

    #[test]
    fn shard_specs() {
        case("1/1", Ok((1, 1)));
        case("2/4", Ok((2, 4)));
        case(" 3 / 3 ", Ok((3, 3)));
        case("0/3", Err("K must be between 1 and N"));
        case("4/3", Err("K must be between 1 and N"));
        case("1/0", Err("N must be at least 1"));
        case("x/3", Err("is not K/N"));
        case("3", Err("is not K/N"));
        case("-1/3", Err("is not K/N"));
        case("", Err("is not K/N"));
    }

    #[test]
    fn owners_are_stable_and_in_range() {
        // Pinned: a change here splits a CI matrix differently between gate versions.
        assert_eq!(Shard::owner("lint", 1), 1);
        for (gate, owners) in [
            ("lint", [2, 3, 6]),
            ("test", [1, 3, 2]),
            ("rust.fmt", [1, 2, 6]),
            ("a", [2, 1, 5]),
        ] {
            let found = [2, 3, 7].map(|count| Shard::owner(gate, count));
            assert_eq!(found, owners, "{gate}");
        }
        for count in 1..10 {
            for gate in ["lint", "test", "a", "rust.fmt"] {
                let owner = Shard::owner(gate, count);
                assert!((1..=count).contains(&owner));
                assert_eq!(owner, Shard::owner(gate, count));
            }
        }
    }

    #[test]
    fn ci_flag_and_env() {
        use std::ffi::OsStr;
        assert!(enabled(true, false, None));
        assert!(enabled(false, false, Some(OsStr::new("true"))));
        assert!(enabled(false, false, Some(OsStr::new("1"))));
        assert!(!enabled(false, false, Some(OsStr::new("0"))));
        assert!(!enabled(false, false, Some(OsStr::new(""))));
        assert!(!enabled(true, true, Some(OsStr::new("true"))));
    }

    #[test]
    fn yaml_scalars() {
        assert_eq!(yaml_plain("gate run ci"), "gate run ci");
        assert_eq!(yaml_plain("it's: odd"), "'it''s: odd'");
        assert_eq!(yaml_plain("-x"), "'-x'");
    }
}
