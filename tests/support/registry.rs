//! A fake OCI registry for the image check: `HEAD /v2/<name>/manifests/<tag>` behind the Docker
//! token flow (401 with a Bearer challenge, `GET /token` with Basic credentials, then the
//! request again with the token), as the OCI distribution spec and the registry token spec
//! (distribution/distribution, `docs/spec/auth/token.md`) describe. A repository's images
//! appear only from a chosen moment, like a CI push that lands late.

use base64::Engine;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The credential the fake's token realm accepts (Basic password), and the token it issues.
pub const REGISTRY_PASSWORD: &str = "registry-test-credential";
const ISSUED: &str = "issued-pull-token";

#[derive(Default)]
struct State {
    /// Repository → from when any of its tags exists.
    published: HashMap<String, Instant>,
    /// (method, path, accept, authorization present) of every request.
    seen: Vec<(String, String, String, bool)>,
}

pub struct FakeRegistry {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

struct Responder {
    state: Arc<Mutex<State>>,
    base: String,
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let path = request.url.path().to_string();
        state.seen.push((
            request.method.to_string(),
            path.clone(),
            header("accept"),
            !header("authorization").is_empty(),
        ));
        if path == "/token" {
            let basic = base64::engine::general_purpose::STANDARD
                .encode(format!("healbot:{REGISTRY_PASSWORD}"));
            if header("authorization") != format!("Basic {basic}") {
                return ResponseTemplate::new(401);
            }
            return ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"token": ISSUED, "expires_in": 300}));
        }
        let Some(rest) = path.strip_prefix("/v2/") else {
            return ResponseTemplate::new(404);
        };
        let Some((name, tag)) = rest.split_once("/manifests/") else {
            return ResponseTemplate::new(404);
        };
        if header("authorization") != format!("Bearer {ISSUED}") {
            let challenge = format!(
                r#"Bearer realm="{}/token",service="fake-registry",scope="repository:{name}:pull""#,
                self.base
            );
            return ResponseTemplate::new(401)
                .insert_header("WWW-Authenticate", challenge.as_str());
        }
        let present = state
            .published
            .get(name)
            .is_some_and(|from| Instant::now() >= *from);
        if request.method.as_str() != "HEAD" || !present || tag.is_empty() {
            return ResponseTemplate::new(404);
        }
        ResponseTemplate::new(200)
            .insert_header("Docker-Content-Digest", "sha256:0123456789abcdef")
            .insert_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
    }
}

impl FakeRegistry {
    pub async fn start() -> FakeRegistry {
        let state = Arc::new(Mutex::new(State::default()));
        let server = MockServer::start().await;
        let responder = Responder {
            state: state.clone(),
            base: server.uri(),
        };
        Mock::given(wiremock::matchers::any())
            .respond_with(responder)
            .mount(&server)
            .await;
        FakeRegistry { server, state }
    }

    /// `host:port`, as an image reference names the registry.
    pub fn host(&self) -> String {
        self.server.uri().trim_start_matches("http://").to_string()
    }

    /// Every tag of `repository` exists from `after` from now.
    pub fn publish_after(&self, repository: &str, after: Duration) {
        let mut state = self.state.lock().unwrap();
        state
            .published
            .insert(repository.to_string(), Instant::now() + after);
    }

    /// (method, path, accept, with authorization) of every request, in order.
    pub fn seen(&self) -> Vec<(String, String, String, bool)> {
        self.state.lock().unwrap().seen.clone()
    }
}
