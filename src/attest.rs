//! attest: a run's manifest → a standard attestation of it, an in-toto Statement v1 with a
//! SLSA Provenance v1 predicate, optionally signed with ed25519 in a DSSE envelope; and the
//! check of one (`gate verify FILE --key PUB`).
//!
//! The statement is a function of the manifest, the input lists kept beside it and the
//! outputs on disk, written as canonical JSON: one run gives the same bytes every time.
//! Subjects are the outputs of passed gates, re-hashed while attesting; an output that no
//! longer matches the manifest is refused, so nothing is attested that the run did not
//! produce. Checking an attestation re-hashes its subjects and, when the run's manifest is
//! kept, regenerates the statement from it and compares, which catches any edit to an
//! unsigned statement. The format is described for people in `docs/attestation.md`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use ed25519_dalek::Signer as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use crate::key::Hex;
use crate::manifest::{self, Finding, Manifest, Verification};

/// The in-toto statement layer this module writes.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// The predicate: SLSA build provenance.
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";

/// What a DSSE envelope says its payload is.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// What a gate run is, as a SLSA build type. `v1` names the layout of `externalParameters`,
/// `internalParameters` and `resolvedDependencies` below; bump it when one changes meaning.
pub const BUILD_TYPE: &str = concat!(env!("CARGO_PKG_REPOSITORY"), "/run/v1");

/// The digest algorithms a subject is checked with.
const CHECKED: [&str; 2] = ["blake3", "sha256"];

/// How many differing places a failed comparison names.
const SHOWN_DIFFERENCES: usize = 8;

/// An ed25519 private key to sign with, and the id of its public key.
pub struct Signer {
    key: ed25519_dalek::SigningKey,
    id: String,
}

impl Signer {
    /// Reads a PKCS#8 PEM private key (what `openssl genpkey -algorithm ed25519` writes).
    pub fn read(path: &Path) -> Result<Signer, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the signing key {}: {e}", path.display()))?;
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&text).map_err(|e| {
            format!(
                "{} is not an unencrypted ed25519 private key in PKCS#8 PEM \
                 (`openssl genpkey -algorithm ed25519` writes one): {e}",
                path.display()
            )
        })?;
        let id = key_id(&key.verifying_key())
            .map_err(|e| format!("cannot encode the public key of {}: {e}", path.display()))?;
        Ok(Signer { key, id })
    }
}

/// An ed25519 public key to check signatures with, and its id.
pub struct Verifier {
    key: ed25519_dalek::VerifyingKey,
    id: String,
}

impl Verifier {
    /// Reads an SPKI PEM public key (what `openssl pkey -pubout` writes).
    pub fn read(path: &Path) -> Result<Verifier, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the public key {}: {e}", path.display()))?;
        let key = ed25519_dalek::VerifyingKey::from_public_key_pem(&text).map_err(|e| {
            format!(
                "{} is not an ed25519 public key in SPKI PEM \
                 (`openssl pkey -in KEY -pubout` writes one): {e}",
                path.display()
            )
        })?;
        let id = key_id(&key)
            .map_err(|e| format!("cannot encode the public key {}: {e}", path.display()))?;
        Ok(Verifier { key, id })
    }
}

/// A key's id: the lower-case hex sha256 of its SPKI DER encoding, which
/// `openssl pkey -pubin -in PUB -outform DER | sha256sum` prints too.
fn key_id(key: &ed25519_dalek::VerifyingKey) -> Result<String, String> {
    let der = key.to_public_key_der().map_err(|e| e.to_string())?;
    Ok(hex(&Sha256::digest(der.as_bytes())))
}

/// DSSE's pre-authentication encoding, the bytes a signature covers:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII decimal.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + payload_type.len() + 32);
    out.extend_from_slice(
        format!(
            "DSSEv1 {} {payload_type} {} ",
            payload_type.len(),
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body);
    out
}

/// One file of a gate's input list (`.gate/runs/inputs/<digest>.json`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputFile {
    digest: Hex,
    executable: bool,
    path: String,
}

/// A manifest read back and checked, and the input lists it refers to.
struct Evidence {
    manifest: Manifest,
    /// blake3 of the manifest file's bytes (its canonical form).
    file: Hex,
    /// Each keyed gate's input list, by its digest.
    lists: BTreeMap<Hex, Vec<InputFile>>,
}

/// Reads the manifest at `path` and the input lists it refers to, checking that the
/// manifest is canonical and matches its digests, and that each list matches its name and
/// count. A missing list is an error: the statement's dependencies would be incomplete.
fn evidence(path: &Path, root: &Path) -> Result<Evidence, Vec<String>> {
    let one = |problem: String| vec![problem];
    let bytes = std::fs::read(path)
        .map_err(|e| one(format!("cannot read the manifest {}: {e}", path.display())))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| one(format!("{} is not JSON: {e}", path.display())))?;
    let mut canonical = manifest::canonical(&value, true);
    canonical.push('\n');
    if canonical.as_bytes() != bytes {
        return Err(one(format!(
            "{} is not in canonical form (`gate verify` says where)",
            path.display()
        )));
    }
    let manifest: Manifest = serde_json::from_value(value.clone())
        .map_err(|e| one(format!("{} is not a manifest: {e}", path.display())))?;
    let result = serde_json::to_value(&manifest.result).expect("a result serialises");
    let result_digest = Hex(blake3::hash(manifest::canonical(&result, false).as_bytes()));
    if manifest::digest_of(&value) != manifest.digest || result_digest != manifest.result_digest {
        return Err(one(format!(
            "{} does not match its digests: it changed after the run (`gate verify` says how)",
            path.display()
        )));
    }
    let inputs = manifest::runs_of(path, &manifest, root).join(manifest::INPUTS_DIR);
    let mut lists = BTreeMap::new();
    let mut problems = Vec::new();
    for (gate, result) in &manifest.result.gates {
        let Some(recorded) = &result.inputs else {
            continue;
        };
        let list = inputs.join(format!("{}.json", recorded.digest));
        match read_list(&list, recorded) {
            Ok(files) => {
                lists.insert(recorded.digest, files);
            }
            Err(problem) => problems.push(format!("the input list of gate `{gate}`: {problem}")),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Evidence {
        manifest,
        file: Hex(blake3::hash(&bytes)),
        lists,
    })
}

/// One input list, checked against what the manifest recorded of it.
fn read_list(path: &Path, recorded: &manifest::Inputs) -> Result<Vec<InputFile>, String> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "{} is not kept, so the files the gate read cannot be listed",
            path.display()
        ),
        _ => format!("cannot read {}: {e}", path.display()),
    })?;
    let digest = Hex(blake3::hash(&bytes));
    if digest != recorded.digest {
        return Err(format!("{} hashes to {digest}", path.display()));
    }
    let files: Vec<InputFile> = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not an input list: {e}", path.display()))?;
    if files.len() as u64 != recorded.count {
        return Err(format!(
            "{} holds {} files, the manifest says {}",
            path.display(),
            files.len(),
            recorded.count
        ));
    }
    Ok(files)
}

/// The statement of a run. `sha256` gives the sha256 of an output from its path and
/// recorded blake3, or says why it cannot; every problem is returned at once.
fn generate(
    evidence: &Evidence,
    mut sha256: impl FnMut(&str, &Hex) -> Result<String, String>,
) -> Result<Value, Vec<String>> {
    let manifest = &evidence.manifest;
    let mut problems = Vec::new();
    let mut outputs: BTreeMap<&str, (Hex, Vec<&str>)> = BTreeMap::new();
    for (gate, result) in &manifest.result.gates {
        if result.outcome != "passed" {
            continue;
        }
        for output in &result.outputs {
            let (blake3, gates) = outputs
                .entry(output.path.as_str())
                .or_insert((output.blake3, Vec::new()));
            if *blake3 != output.blake3 {
                problems.push(format!(
                    "{} is recorded with two contents, by {} and by {gate}",
                    output.path,
                    gates.join(", ")
                ));
            }
            gates.push(gate);
        }
    }
    if outputs.is_empty() {
        problems.push(format!(
            "run {} recorded no outputs of passed gates: there is nothing to attest",
            manifest.run.id
        ));
    }
    let mut subject = Vec::new();
    for (path, (blake3, gates)) in &outputs {
        match sha256(path, blake3) {
            Ok(sha256) => subject.push(json!({
                "name": path,
                "digest": { "blake3": blake3, "sha256": sha256 },
            })),
            Err(problem) => problems.push(format!("{path} ({}): {problem}", gates.join(", "))),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let producer = &manifest.producer;
    let mut version = Map::new();
    version.insert(producer.name.clone(), json!(producer.version));
    Ok(json!({
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external_parameters(manifest),
                "internalParameters": internal_parameters(manifest),
                "resolvedDependencies": resolved_dependencies(evidence),
            },
            "runDetails": {
                "builder": {
                    "id": format!("{}@{}", env!("CARGO_PKG_REPOSITORY"), producer.version),
                    "version": version,
                },
                "metadata": {
                    "invocationId": manifest.run.id,
                    "startedOn": manifest.run.started,
                    "finishedOn": manifest.run.finished,
                },
                "byproducts": [{
                    "name": "manifest.json",
                    "digest": { "blake3": evidence.file },
                    "annotations": { "digest": manifest.digest },
                }],
            },
        },
    }))
}

/// What the caller chose: the command line, and the graph it ran.
fn external_parameters(manifest: &Manifest) -> Value {
    let invocation = &manifest.invocation;
    json!({
        "command": invocation.command,
        "targets": invocation.targets,
        "tags": invocation.tags,
        "vars": invocation.vars,
        "strict": invocation.strict,
        "fail_fast": invocation.fail_fast,
        "no_cache": invocation.no_cache,
        "jobs": invocation.jobs,
        "ci": invocation.ci,
        "shard": invocation.shard,
        "graph": { "blake3": manifest.source.graph },
    })
}

/// What the run established from that choice: each gate's outcome and key, and what the
/// keys were made of.
fn internal_parameters(manifest: &Manifest) -> Value {
    let gates: Map<String, Value> = manifest
        .result
        .gates
        .iter()
        .map(|(gate, result)| {
            let mut entry = Map::new();
            entry.insert("outcome".to_owned(), json!(result.outcome));
            if let Some(key) = &result.key {
                entry.insert("key".to_owned(), json!(key));
            }
            if let Some(inputs) = &result.inputs {
                entry.insert(
                    "inputs".to_owned(),
                    json!({ "count": inputs.count, "digest": inputs.digest }),
                );
            }
            (gate.clone(), Value::Object(entry))
        })
        .collect();
    json!({
        "outcome": manifest.result.outcome,
        "key_format": manifest.producer.key_format,
        "result_digest": manifest.result_digest,
        "platform": manifest.run.platform,
        "selected": manifest.invocation.selected,
        "gates": gates,
    })
}

/// Every file a gate read (from the input lists) and every graph file, once per path and
/// content, sorted by path; then every tool, as the manifest orders them; then the commit.
fn resolved_dependencies(evidence: &Evidence) -> Vec<Value> {
    let manifest = &evidence.manifest;
    let mut files: BTreeMap<(String, String), Value> = BTreeMap::new();
    let mut add = |name: &str, entry: Value| {
        files.insert((name.to_owned(), manifest::canonical(&entry, false)), entry);
    };
    for file in evidence.lists.values().flatten() {
        let mut entry = json!({ "name": file.path, "digest": { "blake3": file.digest } });
        if file.executable {
            entry["annotations"] = json!({ "executable": true });
        }
        add(&file.path, entry);
    }
    for file in &manifest.source.files {
        add(
            &file.path,
            json!({ "name": file.path, "digest": { "blake3": file.blake3 } }),
        );
    }
    let mut dependencies: Vec<Value> = files.into_values().collect();
    for tool in &manifest.result.tools {
        let mut entry = json!({ "name": tool.name, "uri": file_uri(&tool.path) });
        if let Some(digest) = &tool.blake3 {
            entry["digest"] = json!({ "blake3": digest });
        }
        if let Some(version) = &tool.version {
            entry["annotations"] = json!({ "version": version });
        }
        dependencies.push(entry);
    }
    if let Some(git) = &manifest.source.git {
        let mut annotations = json!({ "dirty": git.dirty });
        if let Some(branch) = &git.branch {
            annotations["branch"] = json!(branch);
        }
        dependencies.push(json!({
            "name": "git",
            "digest": { "gitCommit": git.commit },
            "annotations": annotations,
        }));
    }
    dependencies
}

/// A `file:` URI for a tool's path: `file:///usr/bin/sh` for an absolute path, `file:`
/// and the path for one relative to the root (a script in the checkout), percent-encoded.
fn file_uri(path: &str) -> String {
    let mut uri = String::from(if path.starts_with('/') {
        "file://"
    } else {
        "file:"
    });
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}

/// The bytes of a bare statement file: canonical pretty JSON and a final newline.
fn render(value: &Value) -> String {
    let mut text = manifest::canonical(value, true);
    text.push('\n');
    text
}

/// A DSSE envelope of a statement: its canonical compact bytes as the payload, one
/// signature over their PAE.
fn envelope(statement: &Value, signer: &Signer) -> String {
    let payload = manifest::canonical(statement, false);
    let signature = signer.key.sign(&pae(PAYLOAD_TYPE, payload.as_bytes()));
    render(&json!({
        "payloadType": PAYLOAD_TYPE,
        "payload": STANDARD.encode(payload),
        "signatures": [{
            "keyid": signer.id,
            "sig": STANDARD.encode(signature.to_bytes()),
        }],
    }))
}

/// The attestation of the run whose manifest is at `path`, outputs read under `root`: a
/// statement, or with `signer` a DSSE envelope of it. Refuses (saying why, file by file)
/// when the manifest is damaged, an input list is missing, or an output changed.
pub fn attest(path: &Path, root: &Path, signer: Option<&Signer>) -> Result<String, String> {
    let refuse = |problems: Vec<String>| {
        let mut text = format!("cannot attest {}:", path.display());
        for problem in problems {
            text.push_str("\n  ");
            text.push_str(&problem);
        }
        text
    };
    let evidence = evidence(path, root).map_err(refuse)?;
    let run = evidence.manifest.run.id.clone();
    let statement = generate(&evidence, |output, recorded| {
        let hashes = hash_file(&root.join(output))?;
        if hashes.blake3 == *recorded {
            Ok(hashes.sha256)
        } else {
            Err(format!(
                "changed since run {run}: blake3 {} on disk, {recorded} recorded",
                hashes.blake3
            ))
        }
    })
    .map_err(refuse)?;
    Ok(match signer {
        Some(signer) => envelope(&statement, signer),
        None => render(&statement),
    })
}

/// A file's sha256 (hex) and blake3, from one read.
struct Hashes {
    sha256: String,
    blake3: Hex,
}

fn hash_file(path: &Path) -> Result<Hashes, String> {
    match std::fs::symlink_metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err("missing".to_owned());
        }
        Err(error) => return Err(format!("cannot stat {}: {error}", path.display())),
        Ok(meta) if !meta.is_file() => return Err("not a regular file".to_owned()),
        Ok(_) => {}
    }
    let mut file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut sha256 = Sha256::new();
    let mut blake3 = blake3::Hasher::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
        };
        sha256.update(&buffer[..read]);
        blake3.update(&buffer[..read]);
    }
    Ok(Hashes {
        sha256: hex(&sha256.finalize()),
        blake3: Hex(blake3.finalize()),
    })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// Whether the file at `path` is an attestation (a DSSE envelope or a bare statement)
/// rather than a manifest: a JSON object with `payloadType` or `_type`.
pub fn is_attestation(path: &Path) -> bool {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .is_some_and(|value| value.get("payloadType").is_some() || value.get("_type").is_some())
}

/// Checks an attestation file: the envelope's signature with `key` (a signed envelope
/// without a key fails, saying to pass one), the statement's structure, every subject
/// re-hashed under `root`, and, when the run's manifest is kept under `root`, that the
/// statement is exactly the one that manifest gives.
pub fn verify(path: &Path, root: &Path, key: Option<&Verifier>) -> Verification {
    let mut found = Verification::default();
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) => {
            check(
                &mut found,
                false,
                format!("cannot read {}: {error}", path.display()),
            );
            return found;
        }
    };
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(value) => value,
        Err(error) => {
            check(&mut found, false, format!("not JSON: {error}"));
            return found;
        }
    };
    let statement = if value.get("payloadType").is_some() {
        open_envelope(&value, key, &mut found)
    } else {
        let canonical = render(&value).into_bytes() == bytes;
        check(
            &mut found,
            canonical,
            if canonical {
                "statement in canonical form".to_owned()
            } else {
                "statement not in canonical form (gate writes canonical JSON)".to_owned()
            },
        );
        if let Some(key) = key {
            check(
                &mut found,
                false,
                format!(
                    "signature: --key {} given, but this is a bare statement: it is not signed",
                    key.id
                ),
            );
        }
        Some(value)
    };
    let Some(statement) = statement else {
        return found;
    };
    if !check_structure(&statement, &mut found) {
        return found;
    }
    let on_disk = check_subjects(&statement, root, &mut found);
    check_against_manifest(&statement, root, &on_disk, &mut found);
    found
}

fn check(found: &mut Verification, ok: bool, text: impl Into<String>) {
    found.findings.push(Finding {
        ok,
        text: text.into(),
    });
}

/// The envelope's type and signatures; returns the statement it carries.
fn open_envelope(
    envelope: &Value,
    key: Option<&Verifier>,
    found: &mut Verification,
) -> Option<Value> {
    let payload_type = envelope.get("payloadType").and_then(Value::as_str);
    if payload_type != Some(PAYLOAD_TYPE) {
        check(
            found,
            false,
            format!("envelope: payloadType is {payload_type:?}, not {PAYLOAD_TYPE:?}"),
        );
        return None;
    }
    let Some(payload) = envelope
        .get("payload")
        .and_then(Value::as_str)
        .and_then(decode_base64)
    else {
        check(found, false, "envelope: payload is not a base64 string");
        return None;
    };
    let signatures: Vec<(Option<&str>, Option<Vec<u8>>)> = envelope
        .get("signatures")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|s| {
                    (
                        s.get("keyid").and_then(Value::as_str),
                        s.get("sig").and_then(Value::as_str).and_then(decode_base64),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if signatures.is_empty() {
        check(found, false, "envelope: no signatures");
    } else {
        match key {
            None => check(
                found,
                false,
                format!(
                    "signature: not checked: the envelope is signed ({}); pass --key PUB, the \
                     signer's public key, to verify it",
                    signatures
                        .iter()
                        .map(|(id, _)| format!("keyid {}", id.unwrap_or("none")))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            Some(key) => {
                let message = pae(PAYLOAD_TYPE, &payload);
                let verified = signatures.iter().any(|(_, sig)| {
                    sig.as_deref()
                        .and_then(|sig| ed25519_dalek::Signature::from_slice(sig).ok())
                        .is_some_and(|sig| key.key.verify_strict(&message, &sig).is_ok())
                });
                check(
                    found,
                    verified,
                    if verified {
                        format!("signature verified with key {}", key.id)
                    } else {
                        format!(
                            "signature: none of {} signature(s) verifies with key {}",
                            signatures.len(),
                            key.id
                        )
                    },
                );
            }
        }
    }
    let statement: Value = match serde_json::from_slice(&payload) {
        Ok(statement) => statement,
        Err(error) => {
            check(found, false, format!("payload: not JSON: {error}"));
            return None;
        }
    };
    let canonical = manifest::canonical(&statement, false).into_bytes() == payload;
    check(
        found,
        canonical,
        if canonical {
            "payload in canonical form"
        } else {
            "payload not in canonical form (gate signs canonical JSON)"
        },
    );
    Some(statement)
}

/// DSSE allows either base64 alphabet, padded or not.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
}

/// The fields in-toto and SLSA require, with their types, and gate's own types; each
/// problem is one failed finding. Returns whether the statement can be checked further.
fn check_structure(statement: &Value, found: &mut Verification) -> bool {
    let string: fn(&Value) -> bool = Value::is_string;
    let object: fn(&Value) -> bool = Value::is_object;
    let mut problems = Vec::new();
    for (pointer, expected) in [
        ("/_type", STATEMENT_TYPE),
        ("/predicateType", PREDICATE_TYPE),
        ("/predicate/buildDefinition/buildType", BUILD_TYPE),
    ] {
        if need(statement, pointer, string, "a string", &mut problems)
            && statement.pointer(pointer) != Some(&json!(expected))
        {
            problems.push(format!("{pointer} is not {expected}"));
        }
    }
    let listed: fn(&Value) -> bool = |v| v.as_array().is_some_and(|a| !a.is_empty());
    need(
        statement,
        "/subject",
        listed,
        "a non-empty list",
        &mut problems,
    );
    let external = "/predicate/buildDefinition/externalParameters";
    need(statement, external, object, "an object", &mut problems);
    let builder = "/predicate/runDetails/builder/id";
    need(statement, builder, string, "a string", &mut problems);
    for (pointer, test, what) in [
        (
            "/predicate/buildDefinition/internalParameters",
            object,
            "an object",
        ),
        ("/predicate/runDetails/builder/version", object, "an object"),
        ("/predicate/runDetails/metadata", object, "an object"),
        (
            "/predicate/runDetails/metadata/invocationId",
            string,
            "a string",
        ),
        (
            "/predicate/runDetails/metadata/startedOn",
            string,
            "a string",
        ),
        (
            "/predicate/runDetails/metadata/finishedOn",
            string,
            "a string",
        ),
    ] {
        if statement.pointer(pointer).is_some() {
            need(statement, pointer, test, what, &mut problems);
        }
    }
    for (list, subjects) in [
        ("/subject", true),
        ("/predicate/buildDefinition/resolvedDependencies", false),
        ("/predicate/runDetails/byproducts", false),
    ] {
        let Some(value) = statement.pointer(list) else {
            continue;
        };
        let Some(items) = value.as_array() else {
            problems.push(format!("{list} is not a list"));
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            problems.extend(descriptor(item, subjects).map(|p| format!("{list}/{i}: {p}")));
        }
    }
    let holds = problems.is_empty();
    if holds {
        check(
            found,
            true,
            "structure: in-toto Statement v1, SLSA Provenance v1, gate run v1",
        );
    }
    for problem in problems {
        check(found, false, format!("structure: {problem}"));
    }
    holds
}

/// Whether the value at `pointer` is there and passes `test`; if not, says so in `problems`.
fn need(
    statement: &Value,
    pointer: &str,
    test: fn(&Value) -> bool,
    what: &str,
    problems: &mut Vec<String>,
) -> bool {
    match statement.pointer(pointer) {
        Some(value) if test(value) => true,
        Some(_) => {
            problems.push(format!("{pointer} is not {what}"));
            false
        }
        None => {
            problems.push(format!("{pointer} is missing"));
            false
        }
    }
}

/// What is wrong with one ResourceDescriptor: it needs a `uri`, `digest` or `content`; a
/// digest maps algorithms to lower-case hex (a subject needs one, and a name).
fn descriptor(item: &Value, subject: bool) -> Option<String> {
    let Some(fields) = item.as_object() else {
        return Some("not an object".to_owned());
    };
    for name in ["name", "uri", "content", "downloadLocation", "mediaType"] {
        if fields.get(name).is_some_and(|v| !v.is_string()) {
            return Some(format!("{name} is not a string"));
        }
    }
    if fields.get("annotations").is_some_and(|v| !v.is_object()) {
        return Some("annotations is not an object".to_owned());
    }
    if let Some(digest) = fields.get("digest") {
        let Some(digest) = digest.as_object() else {
            return Some("digest is not an object".to_owned());
        };
        for (algorithm, value) in digest {
            let hex = value.as_str().is_some_and(|v| {
                !v.is_empty()
                    && v.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            });
            if !hex {
                return Some(format!("digest {algorithm} is not lower-case hex"));
            }
        }
    }
    if subject {
        if !fields.get("name").is_some_and(Value::is_string) {
            return Some("a subject needs a name".to_owned());
        }
        if fields
            .get("digest")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
        {
            return Some("a subject needs a digest".to_owned());
        }
    } else if !["uri", "digest", "content"]
        .iter()
        .any(|f| fields.contains_key(*f))
    {
        return Some("needs a uri, a digest or content".to_owned());
    }
    None
}

/// Re-hashes every subject under `root`, comparing each digest gate knows (sha256,
/// blake3); drift is listed file by file. Returns what was found on disk, by name.
fn check_subjects(
    statement: &Value,
    root: &Path,
    found: &mut Verification,
) -> BTreeMap<String, Hashes> {
    let mut on_disk = BTreeMap::new();
    let mut intact = 0;
    for subject in statement["subject"].as_array().into_iter().flatten() {
        let name = subject["name"].as_str().unwrap_or_default();
        let digest = &subject["digest"];
        let problem = if !inside(name) {
            Some("not a path inside the root".to_owned())
        } else if CHECKED.iter().all(|a| digest.get(a).is_none()) {
            Some(format!(
                "no digest gate can check (it knows {})",
                CHECKED.join(", ")
            ))
        } else {
            match hash_file(&root.join(name)) {
                Err(problem) => Some(problem),
                Ok(hashes) => {
                    let mut drift = Vec::new();
                    for (algorithm, actual) in [
                        ("blake3", hashes.blake3.to_string()),
                        ("sha256", hashes.sha256.clone()),
                    ] {
                        if let Some(attested) = digest.get(algorithm).and_then(Value::as_str)
                            && attested != actual
                        {
                            drift.push(format!("{algorithm} {actual} (attested: {attested})"));
                        }
                    }
                    on_disk.insert(name.to_owned(), hashes);
                    (!drift.is_empty()).then(|| format!("modified: {}", drift.join(", ")))
                }
            }
        };
        match problem {
            Some(problem) => check(found, false, format!("subject {name}: {problem}")),
            None => intact += 1,
        }
    }
    check(
        found,
        true,
        format!("subjects: {intact} on disk as attested"),
    );
    on_disk
}

/// Whether a subject's name is a relative path that stays inside the root.
fn inside(name: &str) -> bool {
    let path = Path::new(name);
    !name.is_empty()
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// When the manifest the statement names is kept under `root`, the statement regenerated
/// from it must be exactly this one. Subjects changed on disk are already reported: for
/// them the attested sha256 stands in, so only differences from the manifest show here.
fn check_against_manifest(
    statement: &Value,
    root: &Path,
    on_disk: &BTreeMap<String, Hashes>,
    found: &mut Verification,
) {
    let Some(run) = statement
        .pointer("/predicate/runDetails/metadata/invocationId")
        .and_then(Value::as_str)
    else {
        found.notes.push(
            "statement: names no run (invocationId), so it was not compared with a manifest"
                .to_owned(),
        );
        return;
    };
    if !manifest::valid_run_id(run) {
        check(
            found,
            false,
            format!("statement: invocationId {run:?} is not a gate run id"),
        );
        return;
    }
    let path = root
        .join(crate::model::STATE_DIR)
        .join(manifest::RUNS_DIR)
        .join(run)
        .join("manifest.json");
    if !path.exists() {
        found.notes.push(format!(
            "statement: the manifest of run {run} is not kept here ({}), so the statement was \
             not compared with it",
            path.display()
        ));
        return;
    }
    let attested: BTreeMap<&str, &str> = statement["subject"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s["name"].as_str()?, s["digest"]["sha256"].as_str()?)))
        .collect();
    let regenerated = evidence(&path, root).and_then(|evidence| {
        generate(&evidence, |output, recorded| {
            match (on_disk.get(output), attested.get(output)) {
                (Some(hashes), _) if hashes.blake3 == *recorded => Ok(hashes.sha256.clone()),
                (_, Some(sha256)) => Ok((*sha256).to_owned()),
                // Left out of the statement: the file itself says what its subject would be.
                _ => match hash_file(&root.join(output)) {
                    Ok(hashes) if hashes.blake3 == *recorded => Ok(hashes.sha256),
                    Ok(_) => Err("not among the statement's subjects, and changed".to_owned()),
                    Err(problem) => {
                        Err(format!("not among the statement's subjects, and {problem}"))
                    }
                },
            }
        })
    });
    match regenerated {
        Err(problems) => {
            for problem in problems {
                check(
                    found,
                    false,
                    format!(
                        "statement: cannot regenerate it from {}: {problem}",
                        path.display()
                    ),
                );
            }
        }
        Ok(regenerated) if regenerated == *statement => check(
            found,
            true,
            format!("statement: exactly what the manifest of run {run} gives"),
        ),
        Ok(regenerated) => {
            let mut places = Vec::new();
            differences(&regenerated, statement, String::new(), &mut places);
            let more = places.len().saturating_sub(SHOWN_DIFFERENCES);
            places.truncate(SHOWN_DIFFERENCES);
            let mut text = format!(
                "statement: differs from what the manifest of run {run} gives ({}), at {}",
                path.display(),
                places.join(", ")
            );
            if more > 0 {
                text.push_str(&format!(" and {more} more"));
            }
            check(found, false, text);
        }
    }
}

/// The JSON pointers at which `actual` differs from `expected`, in document order.
fn differences(expected: &Value, actual: &Value, at: String, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(a), Value::Object(b)) => {
            let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
            names.sort();
            names.dedup();
            for name in names {
                let here = format!("{at}/{}", name.replace('~', "~0").replace('/', "~1"));
                match (a.get(name), b.get(name)) {
                    (Some(a), Some(b)) => differences(a, b, here, out),
                    _ => out.push(here),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (a, b)) in a.iter().zip(b).enumerate() {
                differences(a, b, format!("{at}/{i}"), out);
            }
        }
        (a, b) if a == b => {}
        _ => out.push(if at.is_empty() { "/".to_owned() } else { at }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(byte: u8) -> String {
        hex(&[byte; 32])
    }

    fn gate(outcome: &str, outputs: &[(&str, u8)], inputs: Option<u8>) -> Value {
        json!({
            "outcome": outcome, "reason": null, "group": false, "optional": false,
            "deps": [], "key": digest(9), "exit": 0,
            "inputs": inputs.map(|d| json!({ "count": 1, "digest": digest(d) })),
            "outputs": outputs.iter().map(|(path, d)| json!({
                "path": path, "size": 1, "mode": 420, "blake3": digest(*d),
            })).collect::<Vec<_>>(),
            "tools": [], "env": {}, "pass_env": [], "hash_env": {},
        })
    }

    /// A manifest as a run writes it (digests not sealed: `generate` does not read them).
    fn manifest(gates: Value) -> Manifest {
        serde_json::from_value(json!({
            "schema_version": 2, "digest": digest(1), "result_digest": digest(2),
            "result": {
                "outcome": "passed", "gates": gates,
                "tools": [{ "name": "sh", "path": "/bin/sh", "blake3": digest(3), "version": null }],
            },
            "producer": { "name": "gate", "version": "0.1.0", "key_format": 1 },
            "run": {
                "id": "20261122T031500.123Z-1a2b3c", "started": "2026-11-22T03:15:00.123Z",
                "finished": "2026-11-22T03:15:01.000Z", "duration_ms": 877, "host": "h",
                "platform": "linux-x86_64",
            },
            "invocation": {
                "command": "run", "targets": ["build"], "tags": [], "selected": ["build"],
                "vars": { "mode": "release" }, "strict": true, "fail_fast": false,
                "no_cache": false, "jobs": 2, "staged": false, "since": null, "commit": null,
                "ci": false, "shard": null,
            },
            "source": {
                "graph": digest(4), "files": [{ "path": "gates.kdl", "blake3": digest(5) }],
                "git": { "commit": "c0ffee", "branch": null, "dirty": true },
                "source_date_epoch": null,
            },
            "previous": null, "execution": {},
        }))
        .expect("a valid manifest")
    }

    /// An input list: its digest byte, and each file's path, digest byte and executable bit.
    type List<'a> = (u8, &'a [(&'a str, u8, bool)]);

    fn evidence(manifest: Manifest, lists: &[List]) -> Evidence {
        Evidence {
            manifest,
            file: Hex(blake3::hash(b"manifest")),
            lists: lists
                .iter()
                .map(|(d, files)| {
                    let files = files
                        .iter()
                        .map(|(path, digest, executable)| InputFile {
                            digest: Hex(blake3::Hash::from_bytes([*digest; 32])),
                            executable: *executable,
                            path: (*path).to_owned(),
                        })
                        .collect();
                    (Hex(blake3::Hash::from_bytes([*d; 32])), files)
                })
                .collect(),
        }
    }

    fn fixed_sha256(path: &str, _: &Hex) -> Result<String, String> {
        Ok(hex(&Sha256::digest(path.as_bytes())))
    }

    #[test]
    fn pae_is_dsse_v1() {
        let case = |payload_type: &str, body: &[u8], expected: &[u8]| {
            assert_eq!(pae(payload_type, body), expected, "{payload_type:?}");
        };
        // The example in the DSSE protocol document.
        case(
            "http://example.com/HelloWorld",
            b"hello world",
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world",
        );
        case("", b"", b"DSSEv1 0  0 ");
        // Lengths count bytes, not characters.
        case("t\u{fc}", b"\x00\xff", b"DSSEv1 3 t\xc3\xbc 2 \x00\xff");
        case(
            PAYLOAD_TYPE,
            b"{}",
            b"DSSEv1 28 application/vnd.in-toto+json 2 {}",
        );
    }

    #[test]
    fn statements_are_deterministic_sorted_and_deduplicated() {
        let gates = || {
            json!({
                "zlib": gate("passed", &[("out/z", 7), ("out/a", 6)], Some(10)),
                "copy": gate("passed", &[("out/a", 6)], Some(11)),
                "lint": gate("failed", &[], Some(10)),
                "docs": gate("passed", &[], None),
            })
        };
        let lists: &[List] = &[
            (10, &[("src/b.c", 20, false), ("gates.kdl", 5, false)]),
            (11, &[("src/b.c", 20, false), ("tools/x", 21, true)]),
        ];
        let first = generate(&evidence(manifest(gates()), lists), fixed_sha256).unwrap();
        let second = generate(&evidence(manifest(gates()), lists), fixed_sha256).unwrap();
        assert_eq!(render(&first), render(&second));
        let names = |pointer: &str| -> Vec<String> {
            first
                .pointer(pointer)
                .and_then(Value::as_array)
                .unwrap()
                .iter()
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(names("/subject"), ["out/a", "out/z"]);
        assert_eq!(
            names("/predicate/buildDefinition/resolvedDependencies"),
            ["gates.kdl", "src/b.c", "tools/x", "sh", "git"]
        );
        let dependencies = &first["predicate"]["buildDefinition"]["resolvedDependencies"];
        assert_eq!(
            dependencies[2]["annotations"],
            json!({ "executable": true })
        );
        assert_eq!(dependencies[3]["uri"], "file:///bin/sh");
        assert_eq!(
            dependencies[4],
            json!({ "name": "git", "digest": { "gitCommit": "c0ffee" },
                    "annotations": { "dirty": true } })
        );
        let gates = &first["predicate"]["buildDefinition"]["internalParameters"]["gates"];
        assert_eq!(
            gates["docs"],
            json!({ "outcome": "passed", "key": digest(9) })
        );
        assert_eq!(gates["lint"]["outcome"], "failed");
    }

    #[test]
    fn what_cannot_be_attested_is_refused_all_at_once() {
        let conflicting = json!({
            "a": gate("passed", &[("out/x", 1), ("out/gone", 3)], None),
            "b": gate("passed", &[("out/x", 2)], None),
        });
        let problems = generate(&evidence(manifest(conflicting), &[]), |path, _| {
            if path == "out/gone" {
                Err("missing".to_owned())
            } else {
                fixed_sha256(path, &Hex(blake3::hash(b"")))
            }
        })
        .unwrap_err();
        assert_eq!(
            problems,
            [
                "out/x is recorded with two contents, by a and by b",
                "out/gone (a): missing"
            ]
        );
        let nothing = json!({ "a": gate("failed", &[], None) });
        let problems = generate(&evidence(manifest(nothing), &[]), fixed_sha256).unwrap_err();
        assert_eq!(
            problems,
            [
                "run 20261122T031500.123Z-1a2b3c recorded no outputs of passed gates: there is nothing to attest"
            ]
        );
    }

    #[test]
    fn envelopes_verify_and_any_changed_byte_fails() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let id = key_id(&key.verifying_key()).unwrap();
        let signer = Signer { key, id };
        let verifier = Verifier {
            key: signer.key.verifying_key(),
            id: signer.id.clone(),
        };
        let statement = generate(
            &evidence(
                manifest(json!({ "a": gate("passed", &[("o", 1)], None) })),
                &[],
            ),
            fixed_sha256,
        )
        .unwrap();
        let text = envelope(&statement, &signer);
        let envelope: Value = serde_json::from_str(&text).unwrap();
        let opened = |envelope: &Value, key: Option<&Verifier>| {
            let mut found = Verification::default();
            let statement = open_envelope(envelope, key, &mut found);
            (statement, found.holds())
        };
        assert_eq!(opened(&envelope, Some(&verifier)), (Some(statement), true));
        // Without a key, a signed envelope does not verify.
        assert!(!opened(&envelope, None).1);
        let case = |field: &str, change: fn(&mut Vec<u8>)| {
            let mut changed = envelope.clone();
            let target = match field {
                "payload" => &mut changed["payload"],
                _ => &mut changed["signatures"][0]["sig"],
            };
            let mut bytes = STANDARD.decode(target.as_str().unwrap()).unwrap();
            change(&mut bytes);
            *target = json!(STANDARD.encode(bytes));
            assert!(!opened(&changed, Some(&verifier)).1, "{field} changed");
        };
        case("payload", |b| b[10] ^= 1);
        case("payload", |b| b.push(b' '));
        case("sig", |b| b[0] ^= 0x80);
        case("sig", |b| b[63] ^= 1);
        let other = ed25519_dalek::SigningKey::from_bytes(&[8; 32]).verifying_key();
        let stranger = Verifier {
            key: other,
            id: key_id(&other).unwrap(),
        };
        assert!(!opened(&envelope, Some(&stranger)).1);
    }

    #[test]
    fn tool_paths_become_file_uris() {
        let case = |path: &str, expected: &str| assert_eq!(file_uri(path), expected);
        case("/usr/bin/sh", "file:///usr/bin/sh");
        case("tools/lint me.sh", "file:tools/lint%20me.sh");
        case("/opt/caf\u{e9}/x#1", "file:///opt/caf%C3%A9/x%231");
    }

    #[test]
    fn subjects_stay_inside_the_root() {
        let case = |name: &str, expected: bool| assert_eq!(inside(name), expected, "{name}");
        case("out/a.bin", true);
        case("./out/a.bin", true);
        case("", false);
        case("/etc/passwd", false);
        case("out/../../x", false);
    }

    #[test]
    fn base64_in_either_alphabet() {
        let case = |text: &str, expected: Option<&[u8]>| {
            assert_eq!(decode_base64(text).as_deref(), expected, "{text}");
        };
        case("+/8=", Some(&[0xfb, 0xff]));
        case("-_8=", Some(&[0xfb, 0xff]));
        case("-_8", Some(&[0xfb, 0xff]));
        case("not base64!", None);
    }

    #[test]
    fn differences_are_named_by_json_pointer() {
        let case = |a: Value, b: Value, expected: &[&str]| {
            let mut out = Vec::new();
            differences(&a, &b, String::new(), &mut out);
            assert_eq!(out, expected);
        };
        case(json!({ "a": 1 }), json!({ "a": 1 }), &[]);
        case(json!(1), json!(2), &["/"]);
        case(
            json!({ "a": [1, { "b/c": true }], "d": 1 }),
            json!({ "a": [1, { "b/c": false }], "e": 1 }),
            &["/a/1/b~1c", "/d", "/e"],
        );
        case(json!({ "s": [1] }), json!({ "s": [1, 2] }), &["/s"]);
    }
}
