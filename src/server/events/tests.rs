use super::*;
use serde_json::json;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/github-webhooks");

fn fixture(event: &str, file: &str) -> Value {
    let path = format!("{FIXTURES}/{event}/{file}");
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

fn parse(event: &str, body: &Value) -> GithubEvent {
    GithubEvent::parse(event, body).unwrap().unwrap()
}

/// Every payload in `testdata/github-webhooks`, with the event its folder names.
fn every_fixture() -> Vec<(String, std::path::PathBuf)> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(FIXTURES).unwrap() {
        let dir = dir.unwrap();
        if !dir.path().is_dir() {
            continue;
        }
        let event = dir.file_name().to_string_lossy().to_string();
        for file in std::fs::read_dir(dir.path()).unwrap() {
            out.push((event.clone(), file.unwrap().path()));
        }
    }
    out
}

#[test]
fn every_fixture_parses_into_its_event() {
    for (event, path) in every_fixture() {
        let body: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let parsed = GithubEvent::parse(&event, &body);
        assert!(
            matches!(parsed, Ok(Some(_))),
            "{}: {parsed:?}",
            path.display()
        );
    }
}

#[test]
fn unknown_event_is_none_and_bad_shape_names_the_field() {
    assert_eq!(GithubEvent::parse("star", &json!({})), Ok(None));
    let e = GithubEvent::parse("pull_request", &json!({"action": "opened"})).unwrap_err();
    assert!(e.to_string().contains("pull_request"), "{e}");
    let e = GithubEvent::parse(
        "pull_request",
        &json!({"action": "opened", "pull_request": {"number": "x"}}),
    )
    .unwrap_err();
    assert_eq!(e.field, "pull_request.number");
}

#[test]
fn actions_healbot_acts_on() {
    let closed = parse(
        "pull_request",
        &fixture("pull_request", "closed.payload.json"),
    );
    assert!(closed.acts());
    let GithubEvent::PullRequest(pr) = &closed else {
        panic!()
    };
    assert_eq!(pr.action, PullRequestAction::Closed);
    let edited = parse(
        "issue_comment",
        &fixture("issue_comment", "edited.payload.json"),
    );
    assert!(!edited.acts(), "edits never re-run commands");
    let mut labeled = fixture("pull_request", "opened.payload.json");
    labeled["action"] = json!("labeled");
    assert!(!parse("pull_request", &labeled).acts());
}

#[test]
fn reviews_become_overrides_bound_to_their_commit() {
    let mut body = fixture("pull_request_review", "submitted.payload.json");
    body["review"]["state"] = json!("approved");
    let ov = parse("pull_request_review", &body).overrides();
    assert_eq!(ov.overrides.len(), 1);
    let o = &ov.overrides[0];
    assert_eq!(
        o.kind,
        OverrideKind::Review {
            state: ReviewState::Approved
        }
    );
    assert_eq!(o.head_sha.0, "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
    assert_eq!(o.actor, "Codertocat");
    assert!(
        o.source_id.ends_with(":review:237895671"),
        "{}",
        o.source_id
    );
    let dismissed = fixture("pull_request_review", "dismissed.payload.json");
    let ov = parse("pull_request_review", &dismissed).overrides();
    assert_eq!(
        ov.overrides[0].kind,
        OverrideKind::Review {
            state: ReviewState::Dismissed
        }
    );
}

fn comment(body: &str, login: &str, kind: &str) -> Value {
    let mut v = fixture("issue_comment", "created.payload.json");
    v["comment"]["body"] = json!(body);
    v["issue"]["pull_request"] = json!({"url": "x"});
    v["sender"]["login"] = json!(login);
    v["sender"]["type"] = json!(kind);
    v["comment"]["user"]["login"] = json!(login);
    v["comment"]["user"]["type"] = json!(kind);
    v
}

#[test]
fn heal_comments_become_commands_outside_code_and_from_people_only() {
    let text = "/heal pause\n\n```\n/heal rollback\n```\n\n> /heal abort\n\n/heal frobnicate\n";
    let ov = parse("issue_comment", &comment(text, "alice", "User")).overrides();
    assert_eq!(ov.overrides.len(), 1);
    assert_eq!(
        ov.overrides[0].kind,
        OverrideKind::Command {
            command: HealCommand::Pause
        }
    );
    assert_eq!(ov.rejected.len(), 1);
    for (login, kind) in [("healbot[bot]", "User"), ("healbot", "Bot")] {
        let ov = parse("issue_comment", &comment("/heal approve", login, kind)).overrides();
        assert!(ov.overrides.is_empty() && ov.rejected.is_empty());
    }
    let mut on_issue = comment("/heal approve", "alice", "User");
    on_issue["issue"]["pull_request"] = Value::Null;
    assert!(parse("issue_comment", &on_issue)
        .overrides()
        .overrides
        .is_empty());
}

#[test]
fn check_run_buttons_become_commands() {
    let mut body = fixture("check_run", "requested_action.payload.json");
    body["requested_action"]["identifier"] = json!("rollback");
    let ov = parse("check_run", &body).overrides();
    assert_eq!(ov.overrides.len(), 1);
    assert_eq!(ov.overrides[0].pr, PrNumber(26764));
    // One check run takes each action once per person: the key ends with the sender's id.
    let sender = body["sender"]["id"].as_u64().unwrap();
    let source_id = &ov.overrides[0].source_id;
    assert!(
        source_id.ends_with(&format!(":rollback:{sender}")),
        "{source_id}"
    );
    let body = fixture("check_run", "requested_action.payload.json");
    assert!(parse("check_run", &body).overrides().overrides.is_empty());
}

/// The route parses without path tracking first; a body that fails is parsed again, so the
/// refusal still names the field that was wrong, and malformed JSON stays malformed.
#[test]
fn parse_slice_refusals_name_the_field_or_say_malformed() {
    let body = br#"{"action":"created","issue":{"number":"seven"}}"#;
    match GithubEvent::parse_slice("issue_comment", body) {
        Err(BodyError::Shape(e)) => {
            assert_eq!(e.event, "issue_comment");
            assert!(e.field.starts_with("issue."), "{e}");
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
    assert!(matches!(
        GithubEvent::parse_slice("issue_comment", b"{\"action\": "),
        Err(BodyError::Malformed(_))
    ));
    assert!(matches!(
        GithubEvent::parse_slice("ping", b"{} trailing"),
        Err(BodyError::Malformed(_))
    ));
    let fixture = std::fs::read(format!("{FIXTURES}/issue_comment/created.payload.json")).unwrap();
    let parsed = GithubEvent::parse_slice("issue_comment", &fixture).unwrap();
    assert_eq!(parsed.action.as_deref(), Some("created"));
    assert!(matches!(parsed.event, Some(GithubEvent::IssueComment(_))));
}

/// Every event healbot knows, from every real payload, and the variants its lenient enums
/// catch (an action or review state healbot does not name): what the delivery log keeps reads
/// back to the very same event, with the same overrides, and is smaller than the payload.
#[test]
fn the_kept_body_reads_back_to_the_same_event() {
    let mut bodies: Vec<(String, Vec<u8>)> = every_fixture()
        .into_iter()
        .map(|(event, path)| (event, std::fs::read(path).unwrap()))
        .collect();
    let mut review = fixture("pull_request_review", "submitted.payload.json");
    review["review"]["state"] = json!("pending");
    let mut labeled = fixture("pull_request", "opened.payload.json");
    labeled["action"] = json!("labeled");
    let heal = comment("/heal approve\r\n/heal nonsense", "octocat", "User");
    for (event, value) in [
        ("pull_request_review", review),
        ("pull_request", labeled),
        ("issue_comment", heal),
    ] {
        bodies.push((event.to_string(), serde_json::to_vec(&value).unwrap()));
    }
    assert!(bodies.len() >= 20, "{} payloads", bodies.len());
    for (event, body) in bodies {
        let parsed = GithubEvent::parse_slice(&event, &body)
            .unwrap()
            .event
            .unwrap();
        let kept = parsed.kept_body().unwrap();
        let again = GithubEvent::parse_slice(&event, &kept)
            .unwrap()
            .event
            .unwrap();
        assert_eq!(again, parsed, "{event}: {}", String::from_utf8_lossy(&kept));
        assert_eq!(again.overrides(), parsed.overrides(), "{event}");
        assert!(
            kept.len() < body.len(),
            "{event}: {} bytes kept",
            kept.len()
        );
        assert!(!kept.contains(&b'\n'), "{event}: one line");
    }
}

/// The raw-bytes triage may only say "no `/heal` line" where the parse finds none: comments
/// with commands written every way JSON and Markdown can spell them, as bytes a serializer
/// writes, as escapes a hand-written body may use and as entities and emphasis the Markdown
/// renders, and every fixture, are each seen.
#[test]
fn a_body_the_triage_passes_over_has_no_commands() {
    let texts = [
        "/heal approve",
        "lgtm\r\n/HEAL pause",
        "  /Heal rollback  ",
        "/heal frobnicate",
        "> /heal abort",
        "nothing here",
        "see https://example.com/healthz",
    ];
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    for text in texts {
        let plain = serde_json::to_vec(&comment(text, "alice", "User")).unwrap();
        bodies.push(plain.clone());
        let written = String::from_utf8(plain).unwrap();
        for (from, to) in [
            ("/heal", "\\/heal"),
            ("/heal", "\\u002fheal"),
            ("/heal", "/\\u0068eal"),
            ("/heal", "&#47;heal"),
            ("/heal", "/he*al*"),
            ("/heal", "/h[](https://example.com)eal"),
        ] {
            bodies.push(written.replace(from, to).into_bytes());
        }
    }
    for (event, path) in every_fixture() {
        if event == "issue_comment" {
            bodies.push(std::fs::read(&path).unwrap());
        }
    }
    let (mut passed_over, mut with_commands) = (0, 0);
    for body in &bodies {
        let parsed = GithubEvent::parse_slice("issue_comment", body).unwrap();
        let commands = parsed.event.as_ref().is_some_and(GithubEvent::has_commands);
        with_commands += usize::from(commands);
        if !may_hold_heal_line(body) {
            passed_over += 1;
            assert!(!commands, "{}", String::from_utf8_lossy(body));
        }
    }
    // Not vacuous: four commands in seven spellings each are found, and the fixtures and the
    // prose without a command are passed over.
    assert_eq!(with_commands, 28);
    assert!(passed_over >= 4, "{passed_over}");
}
