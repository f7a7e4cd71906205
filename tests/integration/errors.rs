//! Errors that teach: exact messages for the main mistakes, every problem at once, and bad
//! input that must never crash.

use crate::test::Test;

#[test]
fn a_misspelt_node_points_at_the_typo_and_suggests_the_fix() {
    let test = Test::new().gates(
        r#"gate "lint" {
    requries "ruff"
    run "ruff check ."
}
"#,
    );
    test.run(&["run"]).status(2).stdout("").stderr(
        "gate::parse::unknown_node

  × unknown node `requries` in gate `lint`
   ╭─[gates.kdl:2:5]
 1 │ gate \"lint\" {
 2 │     requries \"ruff\"
   ·     ────┬───
   ·         ╰── unknown node
 3 │     run \"ruff check .\"
   ╰────
  help: did you mean `requires`?
error: 1 problem found in gates.kdl
",
    );
}

#[test]
fn every_problem_is_reported_at_once_in_file_order() {
    let test = Test::new().gates(
        r#"gate "lint" {
    run "ruff check ."
    timout "1m"
}
gate "test" {
    deps "lnit" "pkg"
    run "pytest"
}
gate "pkg" { deps "test"; run "build ${version}" }
"#,
    );
    let output = test.run(&["check"]);
    output.status(2);
    let headlines = output.headlines();
    assert_eq!(
        headlines,
        [
            "  × unknown node `timout` in gate `lint`",
            "  × gate `test` depends on unknown gate `lnit`",
            "  × dependency cycle: pkg -> test -> pkg",
            "  × unknown variable `version`",
        ]
    );
    output
        .stderr_has("help: did you mean `timeout`?")
        .stderr_has("help: did you mean `lint`?")
        .stderr_has("error: 4 problems found in gates.kdl");
}

#[test]
fn a_cycle_prints_its_whole_path() {
    let test = Test::new().gates(
        r#"gate "lint" { deps "test"; run "true" }
gate "test" { deps "build"; run "true" }
gate "build" { deps "lint"; run "true" }
gate "self" { deps "self"; run "true" }
"#,
    );
    let output = test.run(&["check"]);
    output
        .status(2)
        .stderr_has("× dependency cycle: build -> lint -> test -> build")
        .stderr_has("× dependency cycle: self -> self");
    output
        .stderr_has("`build` depends on `lint`")
        .stderr_has("`lint` depends on `test`")
        .stderr_has("`test` depends on `build`");
}

#[test]
fn a_duplicate_gate_names_both_places_even_across_files() {
    let test = Test::new()
        .gates("include \"tasks/a.kdl\"\ngate \"lint\" { run \"true\" }\n")
        .file("tasks/a.kdl", "gate \"lint\" { run \"false\" }\n");
    test.run(&["check"]).status(2).stderr(
        "gate::model::duplicate_gate

  × gate `lint` is defined twice
   ╭─[gates.kdl:2:6]
 1 │ include \"tasks/a.kdl\"
 2 │ gate \"lint\" { run \"true\" }
   ·      ───┬──
   ·         ╰── defined again here
   ╰────
  help: gate names are unique across all included files; rename one

Advice: 
  ☞ first defined here
   ╭─[tasks/a.kdl:1:6]
 1 │ gate \"lint\" { run \"false\" }
   ·      ───┬──
   ·         ╰── first defined here
   ╰────
error: 1 problem found in gates.kdl and the files it includes
",
    );
}

#[test]
fn an_include_cycle_is_caught() {
    let test = Test::new()
        .gates("include \"a.kdl\"\n")
        .file("a.kdl", "include \"b.kdl\"\n")
        .file("b.kdl", "include \"a.kdl\"\n");
    test.run(&["check"])
        .status(2)
        .stderr_has("× include cycle: a.kdl -> b.kdl -> a.kdl")
        .stderr_has("╭─[b.kdl:1:9]");
    let test = Test::new().gates("include \"missing.kdl\"\n");
    test.run(&["check"])
        .status(2)
        .stderr_has("× cannot include")
        .stderr_has("missing.kdl");
}

#[test]
fn kdl_syntax_errors_have_positions() {
    let test = Test::new().gates("gate \"a\" {\n    run \"unterminated\n}\n");
    test.run(&["check"])
        .status(2)
        .stderr_has("gate::parse::syntax")
        .stderr_has("╭─[gates.kdl:2:");
    let test = Test::new().gates("gate \"a\" { timeout=1.x }\n");
    let output = test.run(&["check"]);
    output.status(2).stderr_has("gate::parse::syntax");
    assert!(
        !output.stderr.contains("[gates.kdl:1:1]"),
        "the span-at-zero quirk is corrected:\n{}",
        output.stderr
    );
}

#[test]
fn paths_must_stay_inside_the_root() {
    let test = Test::new().gates(
        r#"gate "g" {
    run "true"
    outputs "../elsewhere" ".gate/x" "."
    inputs "/etc/passwd" "src/[z-a].py" ".gate/**"
    cwd "../.."
}
"#,
    );
    let output = test.run(&["check"]);
    output.status(2);
    let headlines = output.headlines();
    assert_eq!(
        headlines,
        [
            "  × `../elsewhere` is outside the root",
            "  × `.gate/x` is inside .gate/, gate's own state directory",
            "  × `.` is the whole root",
            "  × `/etc/passwd` is outside the root",
            "  × invalid glob `src/[z-a].py`: invalid range; 'z' > 'a'",
            "  × `.gate/**` is inside .gate/, gate's own state directory",
            "  × `../..` is outside the root",
        ]
    );
}

#[test]
fn groups_cannot_carry_execution_settings() {
    let test = Test::new()
        .gates(r#"gate "ci" { deps "a"; requires "x"; timeout "1m" }; gate "a" { run "true" }"#);
    test.run(&["check"])
        .status(2)
        .stderr_has("× a group (a gate without `run`) cannot have `requires`")
        .stderr_has("cannot have `timeout`");
}

#[test]
fn invalid_gate_names_are_rejected() {
    let test = Test::new().gates(r#"gate "has space" { run "true" }"#);
    test.run(&["check"])
        .status(2)
        .stderr_has("× invalid gate name `has space`");
}

#[test]
fn no_gates_kdl_is_a_clear_error() {
    let test = Test::new();
    let output = test.run(&["run"]);
    output
        .status(2)
        .stderr_has("× no gates.kdl in")
        .stderr_has("help: create a gates.kdl at the repository root, or name one with `-f PATH`");
    test.run(&["-f", "nope.kdl", "check"])
        .status(2)
        .stderr_has("× cannot read");
}

#[test]
fn bad_input_never_crashes() {
    let test = Test::new();
    test.write(
        "gates.kdl",
        b"\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe binary",
    );
    test.run(&["check"])
        .status(2)
        .stderr_has("gates.kdl is not UTF-8 text (invalid byte at offset 10)");

    test.write("gates.kdl", b"\x00\x01\x02 nul bytes in text");
    test.run(&["check"])
        .status(2)
        .stderr_has("gate::parse::syntax");

    let deep = format!("{}{}", "a {".repeat(50_000), "}".repeat(50_000));
    test.write("gates.kdl", deep.as_bytes());
    test.run(&["check"])
        .status(2)
        .stderr_has("× blocks are nested more than 32 deep");

    test.write(
        "gates.kdl",
        b"gate \"a\" { run \"true\" }\ngate \"b\" {{{{ run }}}",
    );
    test.run(&["check"])
        .status(2)
        .stderr_has("gate::parse::syntax");
}

#[test]
fn a_ten_megabyte_gates_kdl_is_handled() {
    let mut text = String::new();
    let mut index = 0;
    while text.len() < 10 << 20 {
        text.push_str(&format!("gate \"g{index}\" {{\n    description \"gate number {index}\"\n    run \"true\"\n    deps \"g{}\"\n}}\n", index.max(1) - 1));
        index += 1;
    }
    // g0 depends on itself: one cycle to find among ~90k gates.
    let test = Test::new();
    test.write("gates.kdl", text.as_bytes());
    let output = test.run(&["check"]);
    output
        .status(2)
        .stderr_has("× dependency cycle: g0 -> g0")
        .stderr_has("error: 1 problem found in gates.kdl");
}

#[test]
fn non_utf8_file_names_under_the_root_do_not_disturb_a_run() {
    use std::os::unix::ffi::OsStrExt;
    let test = Test::new().gates(r#"gate "g" { inputs "**/*"; run "ls > listing.txt" }"#);
    std::fs::write(
        test.root()
            .join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt")),
        "x",
    )
    .unwrap();
    test.run(&["run"]).status(0);
    let listing = std::fs::read(test.path("listing.txt")).unwrap();
    assert!(
        listing.windows(4).any(|w| w == b"caf\xe9"),
        "{}",
        String::from_utf8_lossy(&listing)
    );
}
