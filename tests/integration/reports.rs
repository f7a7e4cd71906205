//! Run reports, all rendered from the run's manifest: `--junit` (parsed with roxmltree and
//! checked gate by gate), GitHub Actions commands and step summary (`GITHUB_ACTIONS=true`),
//! `--trace` (a Chrome trace: fields, lanes from barrier files, the critical path), and
//! `gate report` (a self-contained HTML page, and a screenshot of it taken with headless
//! Chromium when it is installed).

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::test::Test;

/// The newest run's manifest.
fn manifest(test: &Test) -> Value {
    let text = test.read(".gate/runs/latest/manifest.json");
    serde_json::from_str(&text).expect("the manifest is JSON")
}

fn run_id(manifest: &Value) -> String {
    manifest["run"]["id"].as_str().expect("a run id").to_owned()
}

/// A shell line that waits (at most 30 s) for a file the test's gates write.
fn wait(file: &str) -> String {
    format!("n=0; while [ ! -e {file} ] && [ $n -lt 1500 ]; do sleep 0.02; n=$((n+1)); done")
}

/// Every kind of outcome: `build` passes and is restored on a second run, `fresh` passes
/// every time (nothing to key), `lint` fails with a log full of XML's specials and control
/// characters, `hang` times out, `tool` is skipped, `after` is blocked, `advice` is an
/// optional gate that fails.
const EVERY_STATUS: &str = r##"
gate "build" {
    run "echo built > out.txt"
    inputs "src/*"
    outputs "out.txt"
}
gate "fresh" {
    run "echo fresh"
}
gate "lint" {
    run #"echo 'lint: <bad> & "worse" ]]>'; printf 'ctrl \001\033[31m red\033[0m\n'; exit 3"#
}
gate "hang" {
    timeout "300ms"
    run "echo waiting; sleep 30"
}
gate "tool" {
    requires "no-such-tool-for-gate-tests"
    run "no-such-tool-for-gate-tests"
}
gate "after" {
    deps "lint"
    run "echo never"
}
gate "advice" {
    optional #true
    run "echo consider this; exit 1"
}
"##;

/// A testcase's one child element of interest, by tag name.
fn child<'a, 'input>(
    node: roxmltree::Node<'a, 'input>,
    name: &str,
) -> Option<roxmltree::Node<'a, 'input>> {
    node.children().find(|c| c.has_tag_name(name))
}

#[test]
fn junit_maps_every_gate_by_its_status() {
    let test = Test::new().gates(EVERY_STATUS).file("src/a.txt", "a\n");
    test.run(&["run", "all"]).status(1);
    let first = run_id(&manifest(&test));
    let output = test.run(&["run", "all", "--junit", "reports/junit.xml"]);
    output.status(1);
    assert!(!output.stdout.contains("::group::"), "{}", output.stdout);
    let record = manifest(&test);
    let text = test.read("reports/junit.xml");
    let document = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("well-formed XML: {e}\n{text}"));
    let root = document.root_element();
    assert!(root.has_tag_name("testsuites"));
    let suite = child(root, "testsuite").expect("a testsuite");
    let attribute = |name: &str| suite.attribute(name).unwrap_or_default().to_owned();
    assert_eq!(attribute("name"), "gate");
    assert_eq!(attribute("tests"), "7");
    assert_eq!(attribute("failures"), "2", "lint and hang");
    assert_eq!(attribute("errors"), "0");
    assert_eq!(attribute("skipped"), "3", "tool, after and advice");
    assert_eq!(
        attribute("timestamp"),
        record["run"]["started"].as_str().unwrap()
    );
    assert!(attribute("time").parse::<f64>().is_ok());

    let cases: BTreeMap<&str, roxmltree::Node> = suite
        .children()
        .filter(|c| c.has_tag_name("testcase"))
        .map(|c| (c.attribute("name").expect("a name"), c))
        .collect();
    let gates: Vec<&str> = record["result"]["gates"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(cases.keys().copied().collect::<Vec<_>>(), gates);
    for (gate, case) in &cases {
        assert_eq!(case.attribute("classname"), Some("gate"), "{gate}");
        let time: f64 = case.attribute("time").unwrap().parse().expect("seconds");
        let ms = record["execution"][gate]["duration_ms"].as_u64().unwrap();
        assert_eq!((time * 1000.0).round() as u64, ms, "{gate}");
    }
    let elements = |gate: &str| -> Vec<String> {
        cases[gate]
            .children()
            .filter(|c| c.is_element())
            .map(|c| c.tag_name().name().to_owned())
            .collect()
    };

    // passed, and passed again with nothing to key
    assert_eq!(elements("fresh"), Vec::<String>::new());
    // cached: properties, with the run that stored it
    assert_eq!(record["execution"]["build"]["status"], "cached");
    let properties: BTreeMap<&str, &str> = child(cases["build"], "properties")
        .expect("properties")
        .children()
        .filter(|p| p.has_tag_name("property"))
        .map(|p| (p.attribute("name").unwrap(), p.attribute("value").unwrap()))
        .collect();
    assert_eq!(properties["cache"], "hit");
    assert_eq!(properties["produced_by"], first);
    assert_eq!(
        properties["key"],
        record["result"]["gates"]["build"]["key"].as_str().unwrap()
    );
    // failed: the reason, and the log's end with the control characters dropped
    let failure = child(cases["lint"], "failure").expect("a failure");
    assert_eq!(failure.attribute("type"), Some("failed"));
    assert_eq!(failure.attribute("message"), Some("exit code 3"));
    let body = failure.text().unwrap_or_default();
    assert!(body.contains("lint: <bad> & \"worse\" ]]>\n"), "{body:?}");
    assert!(body.contains("ctrl  red\n"), "{body:?}");
    // timed out
    let timeout = child(cases["hang"], "failure").expect("a failure");
    assert_eq!(timeout.attribute("type"), Some("timed-out"));
    assert_eq!(timeout.attribute("message"), Some("timed out after 300ms"));
    assert!(timeout.text().unwrap_or_default().contains("waiting"));
    // skipped, blocked, optional
    let skipped = |gate: &str| {
        child(cases[gate], "skipped")
            .and_then(|s| s.attribute("message"))
            .unwrap_or_else(|| panic!("{gate} is not skipped"))
            .to_owned()
    };
    assert_eq!(skipped("tool"), "missing tool no-such-tool-for-gate-tests");
    assert_eq!(skipped("after"), "blocked: dependency lint failed");
    assert_eq!(skipped("advice"), "optional gate failed: exit code 1");
    assert_eq!(elements("advice"), ["skipped", "system-out"]);
    let out = child(cases["advice"], "system-out").and_then(|o| o.text());
    assert_eq!(out.map(|o| o.contains("consider this")), Some(true));
}

#[test]
fn junit_marks_a_cancelled_gate() {
    let test = Test::new().gates(&format!(
        r#"
gate "fails" {{
    run "{}; exit 1"
}}
gate "slow" {{
    run "touch slow.started; sleep 30"
}}
"#,
        wait("slow.started")
    ));
    test.run(&[
        "run",
        "all",
        "-j",
        "2",
        "--fail-fast",
        "--junit",
        "junit.xml",
    ])
    .status(1);
    let text = test.read("junit.xml");
    let document = roxmltree::Document::parse(&text).expect("well-formed XML");
    let slow = document
        .descendants()
        .find(|n| n.attribute("name") == Some("slow"))
        .expect("a testcase for slow");
    let skipped = child(slow, "skipped").expect("skipped");
    assert_eq!(skipped.attribute("message"), Some("cancelled"));
}

/// The lines between `::stop-commands::TOKEN` and `::TOKEN::`, by token, and every line
/// outside such a block.
fn fenced(stdout: &str) -> (Vec<(String, Vec<&str>)>, Vec<&str>) {
    let mut blocks: Vec<(String, Vec<&str>)> = Vec::new();
    let mut outside = Vec::new();
    let mut open: Option<(String, Vec<&str>)> = None;
    for line in stdout.lines() {
        match &mut open {
            Some((token, lines)) => {
                if line == format!("::{token}::") {
                    blocks.extend(open.take());
                } else {
                    lines.push(line);
                }
            }
            None => match line.strip_prefix("::stop-commands::") {
                Some(token) => open = Some((token.to_owned(), Vec::new())),
                None => outside.push(line),
            },
        }
    }
    assert!(open.is_none(), "a stop-commands block is never closed");
    (blocks, outside)
}

#[test]
fn github_actions_get_fenced_logs_annotations_and_a_step_summary() {
    let test = Test::new()
        .gates(
            r#"
gate "build" {
    run "echo built it"
}
gate "lint:strict" {
    run "echo '::error::injected'; echo '100% sure'; exit 2"
}
gate "after" {
    deps "lint:strict"
    run "true"
}
gate "advice" {
    optional #true
    run "echo consider; exit 1"
}
"#,
        )
        .file("summary.md", "existing line\n")
        .env("GITHUB_ACTIONS", "true");
    let summary = test.path("summary.md");
    let test = test.env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap());
    let output = test.run(&["run", "all", "-j", "1"]);
    output.status(1);
    let stdout = &output.stdout;

    // The commands come after the run view.
    let view_end = stdout.find("\ngate: ").expect("the summary line");
    let first_group = stdout.find("::group::").expect("a group");
    assert!(view_end < first_group, "{stdout}");

    let (blocks, outside) = fenced(&stdout[first_group..]);
    let tokens: Vec<&String> = blocks.iter().map(|(t, _)| t).collect();
    assert_eq!(
        blocks.len(),
        3,
        "build, lint:strict and advice have logs\n{stdout}"
    );
    for token in &tokens {
        assert_eq!(token.len(), 32, "{token}");
        assert!(token.chars().all(|c| c.is_ascii_hexdigit()), "{token}");
    }
    let lint = blocks
        .iter()
        .find(|(_, lines)| lines.contains(&"::error::injected"))
        .expect("the injected line is inside a stop-commands block");
    assert!(
        lint.1.contains(&"100% sure"),
        "the log is not escaped: {:?}",
        lint.1
    );
    assert!(
        blocks.iter().any(|(_, lines)| lines.contains(&"built it")),
        "a passing gate's log is shown: {stdout}"
    );
    let commands: Vec<&str> = outside
        .iter()
        .copied()
        .filter(|l| l.starts_with("::"))
        .collect();
    assert_eq!(
        commands,
        [
            "::group::failed advice",
            "::endgroup::",
            "::group::passed build",
            "::endgroup::",
            "::group::failed lint:strict",
            "::endgroup::",
            "::warning title=gate advice::optional gate failed: exit code 1",
            "::error title=gate lint%3Astrict::exit code 2",
            "::notice title=gate after::blocked: dependency lint:strict failed",
        ],
        "{stdout}"
    );

    let id = run_id(&manifest(&test));
    let text = test.read("summary.md");
    assert!(text.starts_with("existing line\n### gate run `"), "{text}");
    assert!(text.contains(&format!("### gate run `{id}`\n")), "{text}");
    assert!(
        text.contains("❌ **failed**: 1 passed, 1 failed, 1 failed (optional), 1 blocked in "),
        "{text}"
    );
    assert!(
        text.contains("; failing: `lint:strict`, `after`\n"),
        "{text}"
    );
    assert!(
        text.contains("| status | gate | duration | cache | reason |\n"),
        "{text}"
    );
    assert!(text.contains("| ❌ failed | `lint:strict` | "), "{text}");
    assert!(text.contains(" | – | exit code 2 |\n"), "{text}");
    assert!(
        text.contains("| ⛔ blocked | `after` | – | – | dependency lint:strict failed |\n"),
        "{text}"
    );
    assert!(text.contains(" | exit code 1 (optional) |\n"), "{text}");

    // A second run appends.
    test.run(&["run", "build"]).status(0);
    let text = test.read("summary.md");
    assert!(text.starts_with("existing line\n"), "{text}");
    assert_eq!(text.matches("### gate run `").count(), 2, "{text}");
    assert!(text.contains("✅ **passed**: 1 passed in "), "{text}");
}

#[test]
fn trace_has_every_gate_once_on_lanes_with_the_critical_path() {
    // left and right only finish when they run at the same time; first waits for quick and
    // then takes a while, so second waits longest on first; second waits for left, right and
    // loner to be done, so third, after it, finishes last.
    let gates = format!(
        r#"
gate "left" {{
    timeout "60s"
    run "touch left.ready; {}; touch left.done"
}}
gate "right" {{
    timeout "60s"
    run "touch right.ready; {}; touch right.done"
}}
gate "quick" {{
    run "touch quick.done"
}}
gate "first" {{
    timeout "60s"
    run "{}; sleep 0.3"
}}
gate "loner" {{
    run "touch loner.done"
}}
gate "second" {{
    deps "first" "quick"
    timeout "60s"
    run "{}; {}; {}; sleep 0.3"
}}
gate "third" {{
    deps "second"
    run "true"
}}
gate "tool" {{
    requires "no-such-tool-for-gate-tests"
    run "true"
}}
gate "keyed" {{
    run "true"
    inputs "src/*"
}}
"#,
        wait("right.ready"),
        wait("left.ready"),
        wait("quick.done"),
        wait("left.done"),
        wait("right.done"),
        wait("loner.done"),
    );
    let test = Test::new().gates(&gates).file("src/a.txt", "a\n");
    test.run(&["run", "all", "-j", "8", "--trace", "trace.json"])
        .status(0);
    let record = manifest(&test);
    let trace: Value = serde_json::from_str(&test.read("trace.json")).expect("valid JSON");
    assert_eq!(trace["displayTimeUnit"], "ms");
    assert_eq!(trace["otherData"]["run"], record["run"]["id"]);
    assert_eq!(trace["otherData"]["outcome"], "passed");
    let events = trace["traceEvents"].as_array().expect("traceEvents");

    let mut gates: BTreeMap<String, &Value> = BTreeMap::new();
    for event in events.iter().filter(|e| e["ph"] != "M") {
        let name = event["name"].as_str().expect("a name").to_owned();
        assert!(matches!(event["ph"].as_str(), Some("X" | "i")), "{event}");
        for field in ["ts", "pid", "tid"] {
            assert!(event[field].is_u64(), "{field} of {event}");
        }
        assert!(event["cat"].is_string(), "{event}");
        assert!(event["args"].is_object(), "{event}");
        assert!(event["args"]["critical_path"].is_boolean(), "{event}");
        let execution = &record["execution"][&name];
        assert_eq!(event["cat"], execution["status"], "{name}");
        assert_eq!(event["args"]["status"], execution["status"], "{name}");
        assert_eq!(event["args"]["cache"], execution["cache"], "{name}");
        assert_eq!(
            event["ts"].as_u64(),
            execution["started_ms"].as_u64().map(|ms| ms * 1000),
            "{name}"
        );
        if event["ph"] == "X" {
            assert_eq!(
                event["dur"].as_u64(),
                execution["duration_ms"].as_u64().map(|ms| ms * 1000),
                "{name}"
            );
        }
        assert!(gates.insert(name.clone(), event).is_none(), "{name} twice");
    }
    let expected: Vec<&String> = record["result"]["gates"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(gates.keys().collect::<Vec<_>>(), expected);
    assert_eq!(gates["tool"]["ph"], "i", "a skipped gate is an instant");
    assert_eq!(gates["left"]["ph"], "X");

    // Metadata names the process and every lane used.
    let named: Vec<u64> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| e["tid"].as_u64().unwrap())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["ph"] == "M" && e["name"] == "process_name")
    );
    for event in gates.values() {
        assert!(named.contains(&event["tid"].as_u64().unwrap()), "{event}");
    }

    // Overlapping gates never share a lane.
    let span = |gate: &str| {
        let ts = gates[gate]["ts"].as_u64().unwrap();
        (ts, ts + gates[gate]["dur"].as_u64().unwrap())
    };
    let (left, right) = (span("left"), span("right"));
    assert!(left.0 < right.1 && right.0 < left.1, "{left:?} {right:?}");
    assert_ne!(gates["left"]["tid"], gates["right"]["tid"]);
    let spans: Vec<(&String, &&Value)> = gates.iter().filter(|(_, e)| e["ph"] == "X").collect();
    for (a, x) in &spans {
        for (b, y) in &spans {
            let (xa, xb) = span(a);
            let (ya, yb) = span(b);
            if a < b && x["tid"] == y["tid"] {
                assert!(xb <= ya || yb <= xa, "{a} and {b} overlap on one lane");
            }
        }
    }

    // The critical path: third waited for second, second for first.
    let critical: Vec<&str> = gates
        .iter()
        .filter(|(_, e)| e["args"]["critical_path"] == true)
        .map(|(g, _)| g.as_str())
        .collect();
    assert_eq!(critical, ["first", "second", "third"]);
    assert_eq!(
        trace["otherData"]["critical_path"],
        serde_json::json!(["first", "second", "third"])
    );

    // A restored gate is marked.
    test.run(&["run", "keyed", "--trace", "again.json"])
        .status(0);
    let again: Value = serde_json::from_str(&test.read("again.json")).expect("valid JSON");
    let keyed = again["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "keyed")
        .expect("keyed");
    assert_eq!(keyed["cat"], "cached");
    assert_eq!(keyed["args"]["cache"], "hit");
    assert_eq!(keyed["args"]["produced_by"], record["run"]["id"]);
}

/// A run worth a page: passes, a restore, a failure whose log holds HTML, a timeout, skips.
fn reported() -> Test {
    let test = Test::new()
        .gates(
            r##"
gate "build" {
    run "sleep 0.2; echo built > out.txt"
    inputs "src/*"
    outputs "out.txt"
}
gate "test" {
    deps "build"
    run "echo tested; sleep 0.1"
}
gate "lint" {
    run #"echo 'warning: <script>alert("x")</script> & done'; echo 'see https://example.com/rule'; exit 1"#
}
gate "tool" {
    requires "no-such-tool-for-gate-tests"
    run "true"
}
gate "after" {
    deps "lint"
    run "true"
}
gate "ci" {
    deps "build" "test" "lint" "tool" "after"
}
"##,
        )
        .file("src/a.txt", "a\n");
    test.run(&["run", "build"]).status(0);
    test.run(&["run", "ci"]).status(1);
    test
}

#[test]
fn report_writes_a_self_contained_page() {
    let test = reported();
    let record = manifest(&test);
    let id = run_id(&record);
    let output = test.run(&["report"]);
    output.status(0);
    let path = format!(".gate/runs/{id}/report.html");
    output.stdout(&format!("{path}\n"));
    let html = test.read(&path);
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    let external = regex::Regex::new(r#"(?i)(src|href)\s*=\s*["']?\s*(https?:)?//"#).unwrap();
    assert!(!external.is_match(&html), "an external URL in the page");
    assert!(!html.contains("<script"), "the page needs no script");
    assert!(!html.contains("<link"), "the page loads nothing");
    for gate in ["build", "test", "lint", "tool", "after", "ci"] {
        assert!(html.contains(&format!("<code>{gate}</code>")), "{gate}");
    }
    assert!(
        html.contains("warning: &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; done"),
        "the log is escaped"
    );
    assert!(
        html.contains("see https://example.com/rule"),
        "log text is text"
    );
    assert!(html.contains("missing tool no-such-tool-for-gate-tests"));
    assert!(html.contains("dependency lint failed"));
    assert!(html.contains(&format!("gate verify {id}")));
    assert!(html.contains(record["digest"].as_str().unwrap()));
    assert!(html.contains("(matches the record)"));
    assert!(html.contains("<svg"), "a timeline");

    // A run id, a run directory, a manifest file, from a subdirectory, with --out.
    let first = gate_runs(&test)[0].clone();
    test.run(&["report", &first])
        .status(0)
        .stdout(&format!(".gate/runs/{first}/report.html\n"));
    assert!(
        test.read(&format!(".gate/runs/{first}/report.html"))
            .contains(&first)
    );
    let dir = format!(".gate/runs/{first}");
    test.run(&["report", &dir, "--out", "pages/dir.html"])
        .status(0)
        .stdout("pages/dir.html\n");
    assert!(test.read("pages/dir.html").contains(&first));
    let file = test.path(".gate/runs/latest/manifest.json");
    let sub = Test::cwd(test, "sub");
    let output = sub.run(&["report", file.to_str().unwrap(), "--out", "here.html"]);
    output.status(0).stdout("here.html\n");
    assert!(sub.read("sub/here.html").contains(&id));

    // What is not a run is a command-line error.
    let output = sub.run(&["report", "no-such-run"]);
    output.status(2).stderr_has("no-such-run");
}

/// The run ids kept, oldest first.
fn gate_runs(test: &Test) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(test.path(".gate/runs"))
        .expect("runs")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == 27)
        .collect();
    ids.sort();
    ids
}

/// Chromium, when installed.
fn chromium() -> Option<PathBuf> {
    let fixed = PathBuf::from("/usr/bin/chromium");
    if fixed.is_file() {
        return Some(fixed);
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("chromium"))
        .find(|path| path.is_file())
}

/// Runs a command in its own process group, killing the group if it outlives `limit`.
fn run_bounded(mut command: Command, limit: Duration) -> Result<(), String> {
    let mut child = command
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("exited with {status}")),
            Ok(None) if Instant::now() > deadline => {
                // SAFETY: killpg on the group this test created; no memory is involved.
                unsafe { libc::killpg(child.id() as i32, libc::SIGKILL) };
                let _ = child.wait();
                return Err(format!("still running after {limit:?}; killed"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(error) => return Err(format!("cannot wait: {error}")),
        }
    }
}

/// Decodes a PNG into its width, height and RGB pixels.
fn pixels(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let file = std::fs::File::open(path).expect("the screenshot");
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buffer = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buffer).expect("a frame");
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected colour type {other:?}"),
    };
    let pixels = buffer[..info.line_size * info.height as usize]
        .chunks(info.line_size)
        .flat_map(|row| {
            row[..info.width as usize * channels]
                .chunks(channels)
                .map(|p| [p[0], p[1], p[2]])
        })
        .collect();
    (info.width, info.height, pixels)
}

#[test]
fn report_screenshot_is_not_blank() {
    let required = std::env::var("GATE_E2E").is_ok_and(|v| v == "1");
    let Some(chromium) = chromium() else {
        assert!(!required, "GATE_E2E=1 but Chromium is not installed");
        eprintln!("skipped: Chromium is not installed (/usr/bin/chromium, or chromium on PATH)");
        return;
    };
    let test = reported();
    test.run(&["report", "--out", "report.html"])
        .status(0)
        .stdout("report.html\n");
    let shots = tempfile::tempdir().expect("a temporary directory");
    let png = shots.path().join("report.png");
    let mut command = Command::new(&chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!(
            "--user-data-dir={}",
            shots.path().join("profile").display()
        ))
        .arg("--window-size=1280,1000")
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", test.path("report.html").display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Err(problem) = run_bounded(command, Duration::from_secs(120)) {
        panic!("{} --headless: {problem}", chromium.display());
    }
    let (width, height, pixels) = pixels(&png);
    assert_eq!((width, height), (1280, 1000));
    let mut counts: BTreeMap<[u8; 3], usize> = BTreeMap::new();
    for pixel in &pixels {
        *counts.entry(*pixel).or_default() += 1;
    }
    let commonest = counts.values().max().copied().unwrap_or(0);
    assert!(
        counts.len() >= 100,
        "only {} distinct colours: a blank page?",
        counts.len()
    );
    assert!(
        commonest < pixels.len() * 95 / 100,
        "one colour covers {commonest} of {} pixels",
        pixels.len()
    );
    // The failure colour (#cf222e) fills the outcome badge, the status pills and the bar.
    let near = |p: &[u8; 3]| {
        p.iter()
            .zip([0xcf, 0x22, 0x2e])
            .all(|(a, b)| a.abs_diff(b) <= 6)
    };
    let red = pixels.iter().filter(|p| near(p)).count();
    assert!(red >= 500, "only {red} pixels of the failure colour");
    // Kept for a person to look at.
    let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    if std::fs::copy(&png, &kept).is_ok() {
        eprintln!("screenshot: {}", kept.display());
    }
}
