//! healbot's own spans (a `delivery`, an `operation_step`) exported over OTLP/HTTP when
//! healbot.yaml has `otlp:`. The exporter sends through healbot's reqwest client on the server's
//! tokio runtime, so there is one HTTP and TLS stack and no gRPC one.

use crate::config::otlp::Otlp;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use std::collections::HashMap;
use tracing_subscriber::registry::Registry;
use tracing_subscriber::Layer;

/// The exporter's HTTP client. The SDK's batch processor runs on its own thread, outside any
/// runtime, so each request is spawned on the server's runtime and awaited from there.
#[derive(Debug)]
struct ClientOnRuntime {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for ClientOnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let (parts, body) = request.into_parts();
        let sent = self.runtime.spawn(async move {
            let response = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        });
        let (status, headers, body) = sent.await??;
        let mut response = Response::builder().status(status).body(body)?;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

/// A running export: the layer to add to the subscriber, and the provider to flush at exit.
pub(crate) struct OtlpExport {
    provider: SdkTracerProvider,
}

impl OtlpExport {
    /// Builds the exporter; call inside the server's runtime. The error names what failed.
    pub fn start(
        config: &Otlp,
    ) -> anyhow::Result<(OtlpExport, Box<dyn Layer<Registry> + Send + Sync>)> {
        let client = crate::http_client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the OTLP HTTP client: {e}"))?;
        let http = ClientOnRuntime {
            client,
            runtime: tokio::runtime::Handle::current(),
        };
        let headers: HashMap<String, String> = config
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), value.expose_str().to_string()))
            .collect();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(http)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(config.traces_url.clone())
            .with_timeout(config.timeout)
            .with_headers(headers)
            .build()
            // The builder's errors name a field, never a header value.
            .map_err(|e| anyhow::anyhow!("cannot set up the OTLP exporter: {e}"))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name(config.service_name.clone())
                    .build(),
            )
            .build();
        let tracer = provider.tracer("healbot");
        let layer = tracing_opentelemetry::layer().with_tracer(tracer).boxed();
        Ok((OtlpExport { provider }, layer))
    }

    /// Sends what is buffered and stops; run before the runtime goes away.
    pub async fn shutdown(self) {
        let provider = self.provider;
        // The SDK blocks while it flushes; keep that off the runtime's workers.
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(e)) = flushed {
            tracing::warn!(error = %e, "the last OTLP export failed");
        }
    }
}
