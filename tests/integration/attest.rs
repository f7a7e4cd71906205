//! `gate attest` and `gate verify ATTESTATION`: the statement checked against JSON Schemas of
//! in-toto Statement v1 and SLSA Provenance v1, subjects against `sha256sum`, signatures
//! against `openssl`, and every kind of tampering. Keys come from the real `openssl` CLI;
//! without it (or `sha256sum`) the tests that need it say why and pass, unless `GATE_E2E=1`.

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::test::Test;

/// A build with two outputs (one of them an input of the check after it), a tool, a
/// variable, and a group with no outputs of its own.
const GATES: &str = r#"
vars { mode "debug" }
gate "build" {
    inputs "src/*.txt"
    outputs "out/app.bin" "out/lib.bin"
    requires "sh"
    run "mkdir -p out && cat src/*.txt > out/app.bin && echo ${mode} > out/lib.bin"
}
gate "check" {
    deps "build"
    inputs "out/app.bin" "src/*.txt"
    run "test -s out/app.bin"
}
gate "ci" { deps "check" }
"#;

/// The project, committed, run once (`gate run ci --strict --var mode=release`).
fn project() -> Test {
    let test = Test::new()
        .gates(GATES)
        .file("src/one.txt", "one\n")
        .file("src/two.txt", "two\n")
        .file(".gitignore", "out/\n*.pem\n*.json\n*.bin\n");
    git(&test, &["add", "-A"]);
    git(&test, &["commit", "-q", "-m", "init"]);
    test.run(&["run", "ci", "--strict", "--var", "mode=release"])
        .status(0);
    test
}

fn git(test: &Test, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .current_dir(test.root())
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?} failed");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Whether an external tool is here; when not, says why, and fails under `GATE_E2E=1`.
fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg(if tool == "openssl" {
            "version"
        } else {
            "--version"
        })
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("GATE_E2E").is_none_or(|v| v != "1"),
            "GATE_E2E=1 but `{tool}` is not installed"
        );
        eprintln!("skipped: `{tool}` is not installed (GATE_E2E=1 makes this a failure)");
    }
    found
}

/// Runs a command in the test's root and returns its stdout; it must succeed.
fn tool(test: &Test, program: &str, args: &[&str]) -> Vec<u8> {
    let output = Command::new(program)
        .args(args)
        .current_dir(test.root())
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// A new ed25519 key pair from openssl: `NAME.pem` (PKCS#8) and `NAME.pub.pem` (SPKI).
fn keys(test: &Test, name: &str) {
    let private = format!("{name}.pem");
    let public = format!("{name}.pub.pem");
    tool(
        test,
        "openssl",
        &["genpkey", "-algorithm", "ed25519", "-out", &private],
    );
    tool(
        test,
        "openssl",
        &["pkey", "-in", &private, "-pubout", "-out", &public],
    );
}

/// The keyid gate should write: sha256 of the key's SPKI DER, as openssl and sha256sum see it.
fn key_id(test: &Test, public: &str) -> String {
    tool(
        test,
        "openssl",
        &[
            "pkey", "-pubin", "-in", public, "-outform", "DER", "-out", "key.der",
        ],
    );
    first_word(&tool(test, "sha256sum", &["key.der"]))
}

fn first_word(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .split_whitespace()
        .next()
        .expect("a word")
        .to_owned()
}

/// Runs gate and returns its exit code and stdout unredacted, for byte comparisons.
fn raw(test: &Test, args: &[&str]) -> (i32, Vec<u8>) {
    let output = test.command(args).output().expect("gate runs");
    (output.status.code().unwrap_or(-1), output.stdout)
}

fn json(test: &Test, path: &str) -> Value {
    serde_json::from_str(&test.read(path)).unwrap_or_else(|e| panic!("{path} is JSON: {e}"))
}

fn manifest(test: &Test) -> Value {
    json(test, ".gate/runs/latest/manifest.json")
}

fn statement(test: &Test) -> Value {
    let (status, stdout) = raw(test, &["attest"]);
    assert_eq!(status, 0, "gate attest failed");
    serde_json::from_slice(&stdout).expect("the statement is JSON")
}

/// The statement inside an envelope file.
fn payload(test: &Test, path: &str) -> Vec<u8> {
    let envelope = json(test, path);
    STANDARD
        .decode(envelope["payload"].as_str().expect("a payload"))
        .expect("base64")
}

/// Every error of `value` against the schema in `tests/fixtures/NAME`.
fn schema_errors(name: &str, value: &Value) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("a schema"))
        .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    validator
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

#[test]
fn the_statement_is_in_toto_slsa_provenance_of_the_run() {
    let test = project();
    let statement = statement(&test);
    let manifest = manifest(&test);
    assert_eq!(
        schema_errors("in-toto-statement-v1.schema.json", &statement),
        Vec::<String>::new()
    );
    assert_eq!(
        schema_errors("slsa-provenance-v1.schema.json", &statement["predicate"]),
        Vec::<String>::new()
    );
    // The schemas are not vacuous: they reject what the specs reject.
    let broken = |pointer: &str, value: Value| {
        let mut broken = statement.clone();
        *broken.pointer_mut(pointer).unwrap() = value;
        broken
    };
    for (pointer, value) in [
        ("/subject", serde_json::json!([])),
        ("/subject/0/digest", serde_json::json!({})),
        ("/subject/0/digest/sha256", serde_json::json!("ABC")),
        (
            "/_type",
            serde_json::json!("https://in-toto.io/Statement/v0.1"),
        ),
    ] {
        let errors = schema_errors("in-toto-statement-v1.schema.json", &broken(pointer, value));
        assert!(!errors.is_empty(), "{pointer}");
    }
    for (pointer, value) in [
        (
            "/predicate/runDetails/metadata/startedOn",
            serde_json::json!("yesterday"),
        ),
        ("/predicate/runDetails/builder", serde_json::json!({})),
        (
            "/predicate/buildDefinition/resolvedDependencies/0",
            serde_json::json!({ "name": "x" }),
        ),
    ] {
        let errors = schema_errors(
            "slsa-provenance-v1.schema.json",
            &broken(pointer, value)["predicate"],
        );
        assert!(!errors.is_empty(), "{pointer}");
    }
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");

    let definition = &statement["predicate"]["buildDefinition"];
    assert_eq!(
        definition["buildType"],
        "https://example.invalid/gate/run/v1"
    );
    let external = &definition["externalParameters"];
    assert_eq!(external["targets"], serde_json::json!(["ci"]));
    assert_eq!(external["vars"], serde_json::json!({ "mode": "release" }));
    assert_eq!(external["strict"], true);
    assert_eq!(external["graph"]["blake3"], manifest["source"]["graph"]);
    let internal = &definition["internalParameters"];
    assert_eq!(internal["result_digest"], manifest["result_digest"]);
    assert_eq!(internal["key_format"], manifest["producer"]["key_format"]);
    for gate in ["build", "check", "ci"] {
        let recorded = &manifest["result"]["gates"][gate];
        let attested = &internal["gates"][gate];
        assert_eq!(attested["outcome"], "passed", "{gate}");
        if !recorded["key"].is_null() {
            assert_eq!(attested["key"], recorded["key"], "{gate}");
        }
        assert_eq!(
            attested.get("inputs"),
            recorded.get("inputs").filter(|i| !i.is_null())
        );
    }

    // Every file of every input list, once; the tool; the commit.
    let dependencies = definition["resolvedDependencies"].as_array().unwrap();
    let named =
        |name: &str| -> Vec<&Value> { dependencies.iter().filter(|d| d["name"] == name).collect() };
    for gate in ["build", "check"] {
        let digest = manifest["result"]["gates"][gate]["inputs"]["digest"]
            .as_str()
            .unwrap();
        let list = json(&test, &format!(".gate/runs/inputs/{digest}.json"));
        for file in list.as_array().unwrap() {
            let found = named(file["path"].as_str().unwrap());
            assert_eq!(found.len(), 1, "{file}");
            assert_eq!(found[0]["digest"]["blake3"], file["digest"]);
        }
    }
    assert_eq!(
        named("src/one.txt").len(),
        1,
        "a file two gates read is listed once"
    );
    let sh = named("sh");
    assert_eq!(sh.len(), 1);
    let tool = &manifest["result"]["tools"][0];
    assert_eq!(
        sh[0]["uri"],
        format!("file://{}", tool["path"].as_str().unwrap())
    );
    assert_eq!(sh[0]["digest"]["blake3"], tool["blake3"]);
    assert_eq!(
        named("git")[0]["digest"]["gitCommit"],
        git(&test, &["rev-parse", "HEAD"])
    );

    let details = &statement["predicate"]["runDetails"];
    assert_eq!(
        details["builder"]["id"],
        "https://example.invalid/gate@0.1.0"
    );
    assert_eq!(details["metadata"]["invocationId"], manifest["run"]["id"]);
    assert_eq!(details["metadata"]["startedOn"], manifest["run"]["started"]);
    assert_eq!(
        details["metadata"]["finishedOn"],
        manifest["run"]["finished"]
    );
    let byproduct = &details["byproducts"][0];
    assert_eq!(byproduct["name"], "manifest.json");
    let file = std::fs::read(test.path(".gate/runs/latest/manifest.json")).unwrap();
    assert_eq!(
        byproduct["digest"]["blake3"],
        blake3::hash(&file).to_hex().as_str()
    );
    assert_eq!(byproduct["annotations"]["digest"], manifest["digest"]);
}

#[test]
fn subjects_are_the_outputs_with_the_sha256_sha256sum_computes() {
    if !have("sha256sum") {
        return;
    }
    let test = project();
    let statement = statement(&test);
    let subjects = statement["subject"].as_array().unwrap();
    let names: Vec<&str> = subjects
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["out/app.bin", "out/lib.bin"]);
    let outputs = &manifest(&test)["result"]["gates"]["build"]["outputs"];
    for (subject, output) in subjects.iter().zip(outputs.as_array().unwrap()) {
        let name = subject["name"].as_str().unwrap();
        assert_eq!(output["path"], name);
        assert_eq!(subject["digest"]["blake3"], output["blake3"]);
        let sha256 = first_word(&tool(&test, "sha256sum", &[name]));
        assert_eq!(subject["digest"]["sha256"], sha256, "{name}");
    }
}

#[test]
fn attesting_twice_gives_the_same_bytes() {
    let test = project();
    let (_, first) = raw(&test, &["attest"]);
    let (_, second) = raw(&test, &["attest", "latest"]);
    assert_eq!(first, second);
    test.run(&["attest", "--out", "statement.json"])
        .status(0)
        .stdout("");
    assert_eq!(std::fs::read(test.path("statement.json")).unwrap(), first);
    // Restored from the cache, the outputs and their record are the same: so is the
    // statement, apart from the run it names.
    test.run(&["run", "ci", "--strict", "--var", "mode=release"])
        .status(0);
    let (_, again) = raw(&test, &["attest"]);
    let subjects =
        |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).unwrap()["subject"].clone();
    assert_eq!(subjects(&again), subjects(&first));
    if have("openssl") {
        keys(&test, "signer");
        let (_, one) = raw(&test, &["attest", "--sign", "signer.pem"]);
        let (_, two) = raw(&test, &["attest", "--sign", "signer.pem"]);
        assert_eq!(one, two, "ed25519 signatures are deterministic");
    }
}

#[test]
fn a_signed_envelope_verifies_with_gate_and_with_openssl() {
    if !have("openssl") || !have("sha256sum") {
        return;
    }
    let test = project();
    keys(&test, "signer");
    test.run(&["attest", "--sign", "signer.pem", "--out", "run.intoto.json"])
        .status(0);
    let envelope = json(&test, "run.intoto.json");
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
    let id = key_id(&test, "signer.pub.pem");
    assert_eq!(envelope["signatures"][0]["keyid"], id.as_str());
    // The payload is the statement, in canonical compact form.
    let (_, bare) = raw(&test, &["attest"]);
    let bare: Value = serde_json::from_slice(&bare).unwrap();
    let payload = payload(&test, "run.intoto.json");
    assert_eq!(serde_json::from_slice::<Value>(&payload).unwrap(), bare);

    test.run(&["verify", "run.intoto.json", "--key", "signer.pub.pem"])
        .status(0)
        .stdout_has(&format!("  ok  signature verified with key {id}\n"))
        .stdout_has("  ok  subjects: 2 on disk as attested\n")
        .stdout_has("  ok  statement: exactly what the manifest of run ")
        .stdout_has("\nverified: run.intoto.json\n");

    // DSSE's PAE, built here by hand, verified by openssl.
    let mut pae = format!("DSSEv1 28 application/vnd.in-toto+json {} ", payload.len()).into_bytes();
    pae.extend_from_slice(&payload);
    test.write("pae.bin", &pae);
    let signature = STANDARD
        .decode(envelope["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    test.write("sig.bin", &signature);
    let verified = tool(
        &test,
        "openssl",
        &[
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "signer.pub.pem",
            "-rawin",
            "-in",
            "pae.bin",
            "-sigfile",
            "sig.bin",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&verified),
        "Signature Verified Successfully\n"
    );
}

#[test]
fn a_signed_envelope_needs_a_key_to_verify() {
    if !have("openssl") {
        return;
    }
    let test = project();
    keys(&test, "signer");
    test.run(&["attest", "--sign", "signer.pem", "--out", "run.intoto.json"])
        .status(0);
    test.run(&["verify", "run.intoto.json"])
        .status(1)
        .stdout_has("FAIL  signature: not checked: the envelope is signed (keyid ")
        .stdout_has("pass --key PUB, the signer's public key, to verify it\n")
        .stdout_has("\nnot verified: run.intoto.json (1 problem)\n");
    // A key for a manifest is a mistake on the command line.
    test.run(&["verify", "--key", "signer.pub.pem"])
        .status(2)
        .stderr_has("--key checks a signed attestation; ");
    // A bare statement with a key: there is no signature to check.
    test.run(&["attest", "--out", "statement.json"]).status(0);
    test.run(&["verify", "statement.json", "--key", "signer.pub.pem"])
        .status(1)
        .stdout_has("but this is a bare statement: it is not signed\n");
}

/// Rewrites the envelope file with a changed payload or signature.
fn tamper(test: &Test, field: &str, change: impl Fn(&mut Vec<u8>)) {
    let mut envelope = json(test, "run.intoto.json");
    let slot = match field {
        "payload" => &mut envelope["payload"],
        _ => &mut envelope["signatures"][0]["sig"],
    };
    let mut bytes = STANDARD.decode(slot.as_str().unwrap()).unwrap();
    change(&mut bytes);
    *slot = Value::String(STANDARD.encode(bytes));
    test.write(
        "run.intoto.json",
        serde_json::to_string_pretty(&envelope).unwrap().as_bytes(),
    );
}

#[test]
fn a_tampered_envelope_fails() {
    if !have("openssl") {
        return;
    }
    let test = project();
    keys(&test, "signer");
    keys(&test, "stranger");
    let sign = || {
        test.run(&["attest", "--sign", "signer.pem", "--out", "run.intoto.json"])
            .status(0);
    };
    let verify = |key: &str| test.run(&["verify", "run.intoto.json", "--key", key]);
    sign();
    verify("signer.pub.pem").status(0);
    verify("stranger.pub.pem")
        .status(1)
        .stdout_has("FAIL  signature: none of 1 signature(s) verifies with key ");

    // One payload byte: a digit of the first subject's sha256, so the statement still parses.
    let at = {
        let payload = String::from_utf8(payload(&test, "run.intoto.json")).unwrap();
        payload.find("\"sha256\":\"").unwrap() + 10
    };
    tamper(&test, "payload", |bytes| {
        bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' }
    });
    verify("signer.pub.pem")
        .status(1)
        .stdout_has("FAIL  signature: none of 1 signature(s) verifies with key ")
        .stdout_has("FAIL  subject out/app.bin: modified: sha256 ");

    sign();
    tamper(&test, "sig", |bytes| bytes[5] ^= 1);
    verify("signer.pub.pem")
        .status(1)
        .stdout_has("FAIL  signature: none of 1 signature(s) verifies with key ")
        .stdout_has("  ok  subjects: 2 on disk as attested\n");
}

#[test]
fn an_edited_unsigned_statement_fails() {
    let test = project();
    test.run(&["attest", "--out", "statement.json"]).status(0);
    test.run(&["verify", "statement.json"]).status(0);
    let original = test.read("statement.json");
    let statement: Value = serde_json::from_str(&original).unwrap();
    let case = |from: &str, to: &str, expected: &[&str]| {
        assert!(original.contains(from), "{from}");
        test.write("statement.json", original.replacen(from, to, 1).as_bytes());
        let output = test.run(&["verify", "statement.json"]);
        output.status(1);
        for part in expected {
            output.stdout_has(part);
        }
    };
    // A subject's digest: the file on disk and the manifest both disagree.
    let sha256 = statement["subject"][0]["digest"]["sha256"]
        .as_str()
        .unwrap();
    let forged = format!(
        "{}{}",
        &sha256[..63],
        if sha256.ends_with('0') { "1" } else { "0" }
    );
    case(
        sha256,
        &forged,
        &[
            "FAIL  subject out/app.bin: modified: sha256 ",
            "at /subject/0/digest/sha256\n",
        ],
    );
    // A parameter: only the manifest can tell.
    case(
        "\"strict\": true",
        "\"strict\": false",
        &[
            "at /predicate/buildDefinition/externalParameters/strict\n",
            "(1 problem)",
        ],
    );
    // A subject dropped: still valid in-toto, still not what the run produced.
    let dropped = {
        let mut edited = statement.clone();
        edited["subject"].as_array_mut().unwrap().truncate(1);
        edited
    };
    test.write(
        "statement.json",
        gate::manifest::canonical(&dropped, true).as_bytes(),
    );
    test.run(&["verify", "statement.json"])
        .status(1)
        .stdout_has("at /subject\n");
}

#[test]
fn an_output_changed_after_attesting_fails_verification() {
    if !have("openssl") {
        return;
    }
    let test = project();
    keys(&test, "signer");
    test.run(&["attest", "--sign", "signer.pem", "--out", "run.intoto.json"])
        .status(0);
    test.write("out/lib.bin", b"patched\n");
    test.run(&["verify", "run.intoto.json", "--key", "signer.pub.pem"])
        .status(1)
        .stdout_has("  ok  signature verified with key ")
        .stdout_has("FAIL  subject out/lib.bin: modified: blake3 ")
        .stdout_has("  ok  subjects: 1 on disk as attested\n");
    std::fs::remove_file(test.path("out/app.bin")).unwrap();
    test.run(&["verify", "run.intoto.json", "--key", "signer.pub.pem"])
        .status(1)
        .stdout_has("FAIL  subject out/app.bin: missing\n");
}

#[test]
fn attest_refuses_outputs_that_drifted_from_the_manifest() {
    let test = project();
    test.write("out/app.bin", b"not what the run wrote\n");
    test.run(&["attest", "--out", "statement.json"])
        .status(1)
        .stdout("")
        .stderr_has("cannot attest ")
        .stderr_has("\n  out/app.bin (build): changed since run ");
    assert!(!test.path("statement.json").exists());
    std::fs::remove_file(test.path("out/lib.bin")).unwrap();
    test.run(&["attest"])
        .status(1)
        .stderr_has("\n  out/app.bin (build): changed since run ")
        .stderr_has("\n  out/lib.bin (build): missing\n");
}

#[test]
fn attest_refuses_a_run_without_its_input_lists_or_outputs() {
    let test = project();
    std::fs::remove_dir_all(test.path(".gate/runs/inputs")).unwrap();
    test.run(&["attest"])
        .status(1)
        .stderr_has("the input list of gate `build`: ")
        .stderr_has("is not kept, so the files the gate read cannot be listed");

    let empty = Test::new().gates(r#"gate "lint" { run "true" }"#);
    empty.run(&["run"]).status(0);
    empty
        .run(&["attest"])
        .status(1)
        .stderr_has("recorded no outputs of passed gates: there is nothing to attest\n");
}

#[test]
fn a_statement_whose_manifest_is_gone_is_checked_on_disk_and_says_so() {
    let test = project();
    test.run(&["attest", "--out", "statement.json"]).status(0);
    let run = manifest(&test)["run"]["id"].as_str().unwrap().to_owned();
    std::fs::remove_dir_all(test.path(&format!(".gate/runs/{run}"))).unwrap();
    test.run(&["verify", "statement.json"])
        .status(0)
        .stdout_has("  ok  subjects: 2 on disk as attested\n")
        .stdout_has(&format!(
            "note  statement: the manifest of run {run} is not kept here"
        ));
}

#[test]
fn a_bad_key_is_a_usage_error() {
    let test = project();
    test.write(
        "garbage.pem",
        b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
    );
    test.run(&["attest", "--sign", "garbage.pem"])
        .status(2)
        .stdout("")
        .stderr_has("error: garbage.pem is not an unencrypted ed25519 private key in PKCS#8 PEM");
    test.run(&["attest", "--sign", "absent.pem"])
        .status(2)
        .stderr_has("error: cannot read the signing key absent.pem: ");
    test.run(&["attest", "--out", "statement.json"]).status(0);
    test.run(&["verify", "statement.json", "--key", "garbage.pem"])
        .status(2)
        .stderr_has("error: garbage.pem is not an ed25519 public key in SPKI PEM");
    if !have("openssl") {
        return;
    }
    // Well-formed keys of the wrong kind.
    keys(&test, "signer");
    test.run(&["attest", "--sign", "signer.pub.pem"])
        .status(2)
        .stderr_has("signer.pub.pem is not an unencrypted ed25519 private key");
    tool(
        &test,
        "openssl",
        &["genpkey", "-algorithm", "ed448", "-out", "ed448.pem"],
    );
    test.run(&["attest", "--sign", "ed448.pem"])
        .status(2)
        .stderr_has("ed448.pem is not an unencrypted ed25519 private key");
    test.run(&["verify", "statement.json", "--key", "signer.pem"])
        .status(2)
        .stderr_has("signer.pem is not an ed25519 public key in SPKI PEM");
}
