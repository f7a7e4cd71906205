//! Language extensions: the per-gate exit-code map (`ok-codes`, `skip-codes`, `fail-codes`)
//! and `facts`, as the graph reads them.

use crate::test::Test;

#[test]
fn ok_codes_count_as_success_and_the_next_line_runs() {
    let test = Test::new().gates(
        r#"
        gate "collect" {
            ok-codes 0 5
            run "echo first > out.txt; exit 5" "echo second >> out.txt"
            inputs "gates.kdl"
            outputs "out.txt"
        }
        "#,
    );
    let first = test.run(&["run"]);
    first.status(0).stdout_has("passed  collect");
    assert_eq!(test.read("out.txt"), "first\nsecond\n");
    // A pass under ok-codes is cached like any pass.
    test.run(&["run"]).status(0).stdout_has("cached  collect");
}

#[test]
fn a_code_outside_the_map_still_fails() {
    let test = Test::new().gates(
        r#"
        gate "collect" {
            ok-codes 0 5
            run "exit 1"
        }
        "#,
    );
    test.run(&["run"])
        .status(1)
        .stdout_has("failed  collect")
        .stdout_has("exit code 1");
}

#[test]
fn ok_codes_without_zero_make_zero_a_failure() {
    let test = Test::new().gates(r#"gate "expect-failure" { ok-codes 1; run "true" }"#);
    test.run(&["run"]).status(1).stdout_has("exit code 0");
}

#[test]
fn skip_codes_skip_the_gate_and_its_dependents_with_the_reason() {
    let test = Test::new().gates(
        r#"
        gate "gpu" {
            skip-codes 3 reason="no GPU on this machine"
            run "exit 3" "echo never > never.txt"
            inputs "gates.kdl"
        }
        gate "bench" { deps "gpu"; run "echo ran > bench.txt" }
        "#,
    );
    let output = test.run(&["run"]);
    output
        .status(0)
        .stdout_has("skipped  gpu    [T]  exit code 3: no GPU on this machine")
        .stdout_has("skipped  bench  dependency gpu skipped");
    assert!(!test.path("never.txt").exists(), "a skip ends the gate");
    assert!(
        !test.path("bench.txt").exists(),
        "a dependent of a skip does not run"
    );
    // A skip is not a pass: nothing is cached, the next run asks again.
    test.run(&["run"]).status(0).stdout_has("skipped  gpu");
    // --strict fails only for missing tools, not for a skip the gate chose.
    test.run(&["run", "--strict"]).status(0);
}

#[test]
fn fail_codes_name_the_reason() {
    let test = Test::new().gates(
        r#"
        gate "audit" {
            fail-codes 4 reason="the audit chain is broken"
            run "true" "exit 4"
        }
        "#,
    );
    test.run(&["run"])
        .status(1)
        .stdout_has("exit code 4: the audit chain is broken (run line 2)");
}

#[test]
fn the_map_is_part_of_the_key() {
    let test = Test::new().gates(
        r#"gate "g" { ok-codes 0 5; run "echo x > out.txt"; inputs "gates.kdl"; outputs "out.txt" }"#,
    );
    test.run(&["run"]).status(0).stdout_has("passed  g");
    test.run(&["run"]).status(0).stdout_has("cached  g");
    test.write(
        "gates.kdl",
        br#"gate "g" { ok-codes 0 5 6; run "echo x > out.txt"; inputs "gates.kdl"; outputs "out.txt" }"#,
    );
    test.run(&["run", "-v"])
        .status(0)
        .stdout_has("passed  g")
        .stdout_has("exit-code map changed");
}

#[test]
fn a_code_out_of_range_or_twice_is_an_error_with_its_place() {
    let test = Test::new().gates(
        "gate \"g\" {\n    ok-codes 0 256 \"5\"\n    skip-codes 0 reason=3\n    fail-codes 7 reasn=\"x\"\n    run \"true\"\n}\n",
    );
    let output = test.run(&["check"]);
    output.status(2);
    assert_eq!(
        output.headlines(),
        vec![
            "  × `ok-codes` takes exit codes: integers from 0 to 255",
            "  × `ok-codes` takes exit codes: integers from 0 to 255",
            "  × exit code 0 is given twice (`ok-codes`, then `skip-codes`)",
            "  × `skip-codes` takes a string as `reason`",
            "  × unknown property `reasn` on `fail-codes`",
        ],
        "{}",
        output.stderr
    );
    output
        .stderr_has("gates.kdl:2:16")
        .stderr_has("gates.kdl:2:20")
        .stderr_has("write the number without quotes: `5`")
        .stderr_has("gates.kdl:3:18")
        .stderr_has("did you mean `reason`?");
}

#[test]
fn a_group_cannot_have_an_exit_code_map() {
    let test = Test::new().gates(r#"gate "all" { ok-codes 0 5 }"#);
    test.run(&["check"])
        .status(2)
        .stderr_has("a group (a gate without `run`) cannot have `ok-codes`");
}

#[test]
fn the_canonical_graph_keeps_the_map_and_facts_and_reads_back() {
    let test = Test::new().gates(
        r#"
        gate "g" {
            run "true"
            ok-codes 5 0
            skip-codes 3 reason="no GPU"
            fail-codes 4
            facts "./out/facts.json"
        }
        "#,
    );
    let output = test.run(&["graph", "--format", "kdl"]);
    output
        .status(0)
        .stdout_has("    ok-codes 0 5\n")
        .stdout_has("    skip-codes 3 reason=\"no GPU\"\n")
        .stdout_has("    fail-codes 4\n")
        .stdout_has("    facts \"out/facts.json\"\n");
    let canonical = output.stdout.clone();
    test.write("gates.kdl", canonical.as_bytes());
    test.run(&["check"]).status(0);
    test.run(&["graph", "--format", "kdl"])
        .status(0)
        .stdout(&canonical);
}

#[test]
fn facts_outside_the_root_or_on_a_group_are_errors() {
    let test = Test::new().gates(
        "gate \"g\" {\n    run \"true\"\n    facts \"../facts.json\"\n}\ngate \"all\" {\n    deps \"g\"\n    facts \"f.json\"\n}\n",
    );
    test.run(&["check"])
        .status(2)
        .stderr_has("`../facts.json` is outside the root")
        .stderr_has("gates.kdl:3:11")
        .stderr_has("a group (a gate without `run`) cannot have `facts`");
}
