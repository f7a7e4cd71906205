//! `gate run`: ordering, parallelism, isolation, statuses, exit codes, timeouts, interrupts.

use crate::test::{Test, alive, dies};

#[test]
fn dependencies_run_first_in_an_append_only_log() {
    let test = Test::new().gates(
        r#"
        gate "c" { deps "b"; run "echo c >> order.log" }
        gate "b" { deps "a"; run "echo b >> order.log" }
        gate "a" { run "echo a >> order.log" }
        "#,
    );
    let output = test.run(&["run", "c"]);
    output.status(0);
    let (lines, slowest) = output.split_slowest();
    assert_eq!(
        lines,
        "    passed  a  [T]
    passed  b  [T]
    passed  c  [T]

gate: 3 passed in [T]
"
    );
    // Ordered by duration, which no test can predict: only its shape is checked.
    assert_eq!(slowest.matches(" [T]").count(), 3, "{slowest}");
    assert_eq!(test.read("order.log"), "a\nb\nc\n");
}

/// Each gate creates its marker and waits for the other's: both finish only when they run at
/// the same time.
const BARRIER: &str = r#"
    gate "left" { run "touch left.ready; i=0; while [ ! -e right.ready ]; do sleep 0.05; i=$((i+1)); [ $i -lt 200 ] || exit 9; done" }
    gate "right" { run "touch right.ready; i=0; while [ ! -e left.ready ]; do sleep 0.05; i=$((i+1)); [ $i -lt 200 ] || exit 9; done" }
"#;

#[test]
fn gates_run_in_parallel() {
    let test = Test::new().gates(BARRIER);
    test.run(&["run", "-j", "2"]).status(0);
}

#[test]
fn one_job_serialises() {
    let test = Test::new().gates(
        r#"
        gate "a" { run "echo start-a >> order.log; sleep 0.2; echo end-a >> order.log" }
        gate "b" { run "echo start-b >> order.log; sleep 0.2; echo end-b >> order.log" }
        gate "c" { run "echo start-c >> order.log; sleep 0.2; echo end-c >> order.log" }
        "#,
    );
    test.run(&["run", "-j", "1"]).status(0);
    assert_eq!(
        test.read("order.log"),
        "start-a\nend-a\nstart-b\nend-b\nstart-c\nend-c\n"
    );
}

#[test]
fn run_lines_run_in_order_and_the_first_failure_stops_the_gate() {
    let test = Test::new().gates(
        r#"
        gate "g" {
            run "echo one >> out.log" "exit 4"
            run "echo never >> out.log"
        }
        "#,
    );
    test.run(&["run"]).status(1).stdout(
        "    failed  g  [T]  exit code 4 (run line 2)
            │ $ echo one >> out.log
            │ $ exit 4
            log: .gate/logs/g.log

gate: 1 failed in [T]
",
    );
    assert_eq!(test.read("out.log"), "one\n");
}

#[test]
fn failure_shows_the_last_forty_lines_and_the_log_keeps_everything() {
    let test = Test::new().gates(r#"gate "noisy" { run "seq 1 100; echo oops >&2; exit 1" }"#);
    let output = test.run(&["run"]);
    output.status(1);
    let tail: Vec<&str> = output.stdout.lines().filter(|l| l.contains('│')).collect();
    assert_eq!(tail.len(), 40);
    assert_eq!(tail[0].trim(), "│ 62");
    assert_eq!(tail[39].trim(), "│ oops");
    let log = test.read(".gate/logs/noisy.log");
    assert!(log.starts_with("$ seq 1 100; echo oops >&2; exit 1\n1\n2\n"));
    assert!(log.ends_with("100\noops\n"));
}

#[test]
fn the_environment_is_exactly_what_is_declared() {
    let test = Test::new()
        .gates(
            r#"
            env GLOBAL="g"
            gate "show" {
                env OWN="o" GLOBAL="overridden"
                pass-env "PASSED"
                hash-env "HASHED"
                run "echo GLOBAL=$GLOBAL OWN=$OWN PASSED=$PASSED HASHED=$HASHED SECRET=${SECRET:-unset} LANG=$LANG > env.txt"
            }
            "#,
        )
        .env("PASSED", "p")
        .env("HASHED", "h")
        .env("SECRET", "hunter2")
        .env("LANG", "C.UTF-8");
    test.run(&["run"]).status(0);
    assert_eq!(
        test.read("env.txt"),
        "GLOBAL=overridden OWN=o PASSED=p HASHED=h SECRET=unset LANG=C.UTF-8\n"
    );
}

#[test]
fn gates_have_no_stdin_and_run_in_the_root_or_their_cwd() {
    let test = Test::new()
        .gates(
            r#"
            gate "stdin" { run "cat > stdin.txt" }
            gate "where" { cwd "sub/dir"; run "pwd > here.txt" }
            "#,
        )
        .cwd("sub/dir");
    test.run(&["run"]).status(0);
    assert_eq!(test.read("stdin.txt"), "");
    let here = test.read("sub/dir/here.txt");
    assert!(here.trim_end().ends_with("sub/dir"), "{here}");
}

#[test]
fn a_missing_tool_skips_and_strict_fails() {
    let test = Test::new().gates(
        r#"
        gate "lint" { requires "sh" "no-such-tool-xyz"; run "true" }
        gate "after" { deps "lint"; run "true" }
        gate "ok" { requires "sh"; run "true" }
        "#,
    );
    test.run(&["run"]).status(0).stdout(
        "   skipped  lint   missing tool no-such-tool-xyz
   skipped  after  dependency lint skipped
    passed  ok     [T]

gate: 1 passed, 2 skipped in [T]
",
    );
    test.run(&["run", "--strict"])
        .status(1)
        .stdout_has("strict: a missing tool is a failure: lint (no-such-tool-xyz)");
}

#[test]
fn conditions_skip_unless_they_hold() {
    let gates = r#"
        gate "audit" { when env="GATE_AUDIT" equals="1"; run "echo ran > audit.txt" }
        gate "set" { when env="GATE_SET"; run "true" }
        gate "file" { when file="marker"; run "true" }
    "#;
    Test::new()
        .gates(gates)
        .run(&["run", "--strict"])
        .status(0)
        .stdout(
            "   skipped  audit  condition (env GATE_AUDIT is not \"1\")
   skipped  file   condition (file marker does not exist)
   skipped  set    condition (env GATE_SET is not set)

gate: 3 skipped in [T]
",
        );
    let test = Test::new()
        .gates(gates)
        .file("marker", "")
        .env("GATE_AUDIT", "1")
        .env("GATE_SET", "yes");
    test.run(&["run"]).status(0).stdout_has("gate: 3 passed");
    assert_eq!(test.read("audit.txt"), "ran\n");
}

#[test]
fn a_failure_blocks_dependents_but_not_independent_gates() {
    let test = Test::new().gates(
        r#"
        gate "lint" { run "exit 1" }
        gate "test" { deps "lint"; run "echo no > test.txt" }
        gate "package" { deps "test"; run "true" }
        gate "docs" { run "echo yes > docs.txt" }
        gate "ci" { deps "package" "docs" }
        "#,
    );
    let output = test.run(&["run", "ci", "-j", "1"]);
    output.status(1);
    let (lines, _slowest) = output.split_slowest();
    assert_eq!(
        lines,
        "    passed  docs     [T]
    failed  lint     [T]  exit code 1
            │ $ exit 1
            log: .gate/logs/lint.log
   blocked  test     dependency lint failed
   blocked  package  dependency test blocked
    failed  ci       failed: package

gate: 1 passed, 2 failed, 2 blocked in [T]
",
    );
    assert!(!test.path("test.txt").exists());
    assert_eq!(test.read("docs.txt"), "yes\n");
}

#[test]
fn optional_failures_do_not_fail_the_run_or_their_group() {
    let test = Test::new().gates(
        r#"
        gate "flaky" { optional #true; run "exit 3" }
        gate "solid" { run "true" }
        gate "all" { deps "flaky" "solid" }
        "#,
    );
    test.run(&["run"])
        .status(0)
        .stdout_has("    failed  flaky  [T]  exit code 3 (optional)")
        .stdout_has("    passed  all")
        .stdout_has("gate: 2 passed, 1 failed (optional) in [T]");
}

#[test]
fn an_optional_failure_does_not_block_but_a_blocked_gate_does() {
    let test = Test::new().gates(
        r#"
        gate "flaky" { optional #true; run "exit 1" }
        gate "after-flaky" { deps "flaky"; run "touch after-flaky.ran" }
        gate "broken" { run "exit 1" }
        gate "optional-blocked" { optional #true; deps "broken"; run "true" }
        gate "downstream" { deps "optional-blocked"; run "touch downstream.ran" }
        gate "slow" { timeout "100ms"; run "sleep 5" }
        gate "after-slow" { deps "slow"; run "true" }
        "#,
    );
    let output = test.run(&["run"]);
    output.status(1);
    output.stdout_has("passed  after-flaky");
    output.stdout_has("blocked  optional-blocked  dependency broken failed (optional)");
    output.stdout_has("blocked  downstream        dependency optional-blocked blocked");
    output.stdout_has("blocked  after-slow        dependency slow timed-out");
    assert!(test.path("after-flaky.ran").exists());
    assert!(!test.path("downstream.ran").exists());
}

#[test]
fn a_timeout_kills_the_whole_process_tree() {
    let test = Test::new().gates(
        r#"
        gate "slow" {
            timeout "500ms"
            run "sleep 300 & echo $! > grandchild.pid; wait"
        }
        "#,
    );
    test.run(&["run"])
        .status(1)
        .stdout_has("timed-out  slow  [T]  timed out after 500ms");
    let pid: u32 = test.read("grandchild.pid").trim().parse().unwrap();
    assert!(dies(pid), "the background sleep {pid} outlived its gate");
}

#[test]
fn processes_left_behind_by_a_passing_gate_are_killed() {
    let test = Test::new().gates(r#"gate "leaky" { run "sleep 300 & echo $! > leftover.pid" }"#);
    test.run(&["run"]).status(0);
    let pid: u32 = test.read("leftover.pid").trim().parse().unwrap();
    assert!(dies(pid), "the background sleep {pid} outlived its gate");
}

#[test]
fn ctrl_c_cancels_every_gate_and_leaves_no_orphans() {
    let test = Test::new().gates(
        r#"
        gate "one" { run "sleep 300 & echo $! > one.pid; wait" }
        gate "two" { run "sleep 300 & echo $! > two.pid; wait" }
        gate "after" { deps "one"; run "touch after.ran" }
        "#,
    );
    let child = test.spawn(&["run", "-j", "2"]);
    test.wait_for("one.pid");
    test.wait_for("two.pid");
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stdout = crate::test::redact(&String::from_utf8_lossy(&output.stdout));
    assert_eq!(output.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("cancelled  one"), "{stdout}");
    assert!(stdout.contains("cancelled  two"), "{stdout}");
    assert!(stdout.contains("cancelled  after"), "{stdout}");
    assert!(
        stdout.contains("interrupted: running gates were stopped"),
        "{stdout}"
    );
    for file in ["one.pid", "two.pid"] {
        let pid: u32 = test.read(file).trim().parse().unwrap();
        assert!(dies(pid), "{file}: process {pid} survived Ctrl-C");
    }
    assert!(!test.path("after.ran").exists());
}

#[test]
fn sigterm_is_handled_like_ctrl_c() {
    let test = Test::new().gates(r#"gate "one" { run "sleep 300 & echo $! > one.pid; wait" }"#);
    let child = test.spawn(&["run"]);
    test.wait_for("one.pid");
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    let pid: u32 = test.read("one.pid").trim().parse().unwrap();
    assert!(dies(pid));
    assert!(!alive(pid));
}

#[test]
fn fail_fast_cancels_running_gates_and_starts_nothing_new() {
    let test = Test::new().gates(
        r#"
        gate "fails" { run "while [ ! -e slow.pid ]; do sleep 0.02; done; exit 1" }
        gate "slow" { run "sleep 300 & echo $! > slow.pid; wait" }
        gate "later" { deps "slow"; run "touch later.ran" }
        "#,
    );
    let output = test.run(&["run", "--fail-fast", "-j", "2"]);
    output
        .status(1)
        .stdout_has("    failed  fails")
        .stdout_has("cancelled  slow")
        .stdout_has("cancelled  later");
    let pid: u32 = test.read("slow.pid").trim().parse().unwrap();
    assert!(dies(pid));
    assert!(!test.path("later.ran").exists());
}

#[test]
fn without_fail_fast_everything_independent_still_runs() {
    let test = Test::new().gates(
        r#"
        gate "fails" { run "exit 1" }
        gate "other" { run "sleep 0.2; touch other.ran" }
        "#,
    );
    test.run(&["run", "-j", "2"]).status(1);
    assert!(test.path("other.ran").exists());
}

#[test]
fn a_missing_cwd_is_a_failure_that_says_so() {
    let test = Test::new().gates(r#"gate "g" { cwd "nowhere"; run "true" }"#);
    test.run(&["run"])
        .status(1)
        .stdout_has("failed  g  [T]  working directory")
        .stdout_has("/nowhere does not exist");
}

#[test]
fn a_shell_that_cannot_start_is_a_failure_not_a_crash() {
    let test = Test::new().gates(r#"gate "g" { shell "/no/such/shell" "-c"; run "true" }"#);
    test.run(&["run"])
        .status(1)
        .stdout_has("failed  g  [T]  cannot start `/no/such/shell`");
}

#[test]
fn the_declared_shell_runs_the_lines() {
    let test = Test::new().gates(
        r#"
        shell "bash" "-c"
        gate "arrays" { run "a=(x y z); echo ${#a[@]} > n.txt" }
        gate "posix" { shell "sh" "-c"; run "echo posix > p.txt" }
        "#,
    );
    test.run(&["run"]).status(0);
    assert_eq!(test.read("n.txt"), "3\n");
}

#[test]
fn verbose_streams_prefixed_output_and_quiet_prints_only_failures() {
    let test = Test::new().gates(
        r#"
        gate "hello" { run "echo hi; echo there >&2" }
        gate "bad" { run "echo broken; exit 2" }
        "#,
    );
    let output = test.run(&["run", "-v", "-j", "1"]);
    output.status(1);
    for line in [
        "      bad | $ echo broken; exit 2",
        "      bad | broken",
        "    hello | hi",
        "    hello | there",
    ] {
        output.stdout_has(line);
    }
    assert!(
        !output.stdout.contains('│'),
        "no log tail when output was streamed"
    );
    let quiet = test.run(&["run", "-q"]);
    quiet.status(1);
    assert!(
        quiet.stdout.starts_with(
            "    failed  bad    [T]  exit code 2
            │ $ echo broken; exit 2
            │ broken
            log: .gate/logs/bad.log

gate: 1 passed, 1 failed in [T]
slowest: "
        ),
        "{}",
        quiet.stdout
    );
    test.run(&["run", "-q", "hello"]).status(0).stdout("");
}

#[test]
fn dry_run_prints_the_plan_and_runs_nothing() {
    let test = Test::new().gates(
        r#"
        vars { floor "80" }
        gate "lint" { run "touch ran" "echo floor ${floor}" }
        gate "docker" { requires "no-such-tool-xyz"; run "touch ran" }
        gate "ci" { deps "lint" "docker" }
        "#,
    );
    test.run(&["run", "ci", "--dry-run", "-j", "3", "--var", "floor=90"])
        .status(0)
        .stdout(
            "plan for ci: 3 gates, at most 3 at a time
      skip  docker  missing tool no-such-tool-xyz
       run  lint    never cached: no `inputs` declared
            $ touch ran
            $ echo floor 90
     group  ci      docker, lint
",
        );
    assert!(!test.path("ran").exists());
}

#[test]
fn gate_state_is_ignored_by_git() {
    let test = Test::new().gates(r#"gate "g" { run "true" }"#);
    test.run(&["run"]).status(0);
    let status = std::process::Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(test.root())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&status.stdout), "?? gates.kdl\n");
}

#[test]
fn a_shorter_log_replaces_a_longer_one_entirely() {
    // Logs are overwritten in place and cut to length, not truncated first.
    let test = Test::new().gates(r#"gate "say" { run "cat msg.txt" }"#);
    test.write("msg.txt", "a long first message\n".repeat(50).as_bytes());
    test.run(&["run"]).status(0);
    assert_eq!(
        test.read(".gate/logs/say.log"),
        format!("$ cat msg.txt\n{}", "a long first message\n".repeat(50))
    );
    test.write("msg.txt", b"short\n");
    test.run(&["run"]).status(0);
    assert_eq!(test.read(".gate/logs/say.log"), "$ cat msg.txt\nshort\n");
}

#[test]
fn a_second_run_in_the_same_checkout_waits_for_the_first() {
    use std::io::Read;
    let test = Test::new().gates(
        r#"gate "slow" { run "touch started; while [ ! -e go ]; do sleep 0.02; done; echo first >> order" }
        gate "quick" { run "echo second >> order" }"#,
    );
    let first = test.spawn(&["run", "slow"]);
    test.wait_for("started");
    let mut second = test.spawn(&["run", "quick"]);
    // The second run says it waits as soon as it finds the lock taken; read that before
    // letting the first one finish (a thread, so a missing message fails instead of hanging).
    let mut stderr = second.stderr.take().expect("piped stderr");
    let (sender, receiver) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        // Read to the end (a pipe closed early would make the second run's next write fail).
        let mut seen = Vec::new();
        let mut buffer = [0u8; 256];
        while let Ok(n) = stderr.read(&mut buffer) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buffer[..n]);
            if String::from_utf8_lossy(&seen).contains("waiting for it to finish") {
                let _ = sender.send(());
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let waited = receiver.recv_timeout(std::time::Duration::from_secs(30));
    assert!(!test.path("order").exists(), "the second run did not wait");
    test.write("go", b"");
    let first = first.wait_with_output().unwrap();
    let second = second.wait_with_output().unwrap();
    let said = reader.join().unwrap();
    assert!(waited.is_ok(), "{said}");
    assert!(
        said.contains("another gate run is working in this checkout; waiting for it to finish")
    );
    assert!(
        first.status.success() && second.status.success(),
        "{first:?}\n{second:?}\n{said}"
    );
    assert_eq!(test.read("order"), "first\nsecond\n");
}

#[test]
fn a_gate_may_run_gate_in_its_own_checkout() {
    let gate = env!("CARGO_BIN_EXE_gate");
    let test = Test::new().gates(&format!(
        r#"gate "outer" {{ run "'{gate}' run inner -q" }}
        gate "inner" {{ run "touch inner.ran" }}"#
    ));
    test.run(&["run", "outer"]).status(0);
    assert!(test.path("inner.ran").exists());
}

#[test]
fn a_closed_stderr_does_not_crash_a_run() {
    // An unusable cache directory is a warning on stderr; with stderr closed (a pipe whose
    // reader has gone) the run still finishes with its own exit code.
    let test = Test::new()
        .gates(r#"gate "g" { inputs "a.txt"; run "true" }"#)
        .file("a.txt", "a\n")
        .env("GATE_CACHE_DIR", "/proc/gate-cannot-create-this");
    let mut command = test.command(&["run"]);
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = command
        .stdout(std::process::Stdio::null())
        .stderr(writer)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}
