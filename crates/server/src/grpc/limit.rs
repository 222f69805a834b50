//! gRPC message size errors as Triton (gRPC C++) reports them: a request over the limit is
//! `RESOURCE_EXHAUSTED` "Received message larger than max (N vs. M)". tonic answers
//! `OUT_OF_RANGE` "decoded message length too large"; [`SizeLimitStatus`] wraps the service
//! and rewrites that status of the trailers-only response.

use tonic::codegen::http::{HeaderValue, Response};
use tonic::codegen::{BoxFuture, Context, Poll, Service};
use tonic::server::NamedService;

/// A gRPC service whose message-size errors read as Triton's.
#[derive(Clone, Debug)]
pub struct SizeLimitStatus<S>(pub S);

impl<S: NamedService> NamedService for SizeLimitStatus<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, Req, B> Service<Req> for SizeLimitStatus<S>
where
    S: Service<Req, Response = Response<B>>,
    S::Future: Send + 'static,
    B: 'static,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = BoxFuture<Response<B>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let fut = self.0.call(req);
        Box::pin(async move {
            let mut r = fut.await?;
            rewrite(r.headers_mut());
            Ok(r)
        })
    }
}

/// tonic's status code for an oversized message.
const OUT_OF_RANGE: &str = "11";
/// gRPC's (and Triton's) status code for it.
const RESOURCE_EXHAUSTED: &str = "8";

fn rewrite(headers: &mut tonic::codegen::http::HeaderMap) {
    let oversized = headers
        .get("grpc-status")
        .is_some_and(|s| s == OUT_OF_RANGE)
        && headers
            .get("grpc-message")
            .and_then(|m| m.to_str().ok())
            .is_some_and(|m| {
                m.contains("message%20length%20too%20large")
                    || m.contains("message length too large")
            });
    if !oversized {
        return;
    }
    let message = headers
        .get("grpc-message")
        .and_then(|m| m.to_str().ok())
        .map(|m| m.replace("%20", " "))
        .unwrap_or_default();
    // "... found N bytes, the limit is: M bytes"
    let numbers: Vec<&str> = message
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .collect();
    let text = match numbers.as_slice() {
        [found, limit, ..] => format!("Received message larger than max ({found} vs. {limit})"),
        _ => "Received message larger than max".to_string(),
    };
    headers.insert("grpc-status", HeaderValue::from_static(RESOURCE_EXHAUSTED));
    if let Ok(v) = HeaderValue::from_str(&text.replace(' ', "%20")) {
        headers.insert("grpc-message", v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::codegen::http::HeaderMap;

    #[test]
    fn oversized_message_becomes_resource_exhausted() {
        let mut h = HeaderMap::new();
        h.insert("grpc-status", HeaderValue::from_static("11"));
        h.insert(
            "grpc-message",
            HeaderValue::from_static(
                "Error,%20decoded%20message%20length%20too%20large:%20found%209000%20bytes,%20the%20limit%20is:%208000%20bytes",
            ),
        );
        rewrite(&mut h);
        assert_eq!(h["grpc-status"], "8");
        assert_eq!(
            h["grpc-message"],
            "Received%20message%20larger%20than%20max%20(9000%20vs.%208000)"
        );
        let mut other = HeaderMap::new();
        other.insert("grpc-status", HeaderValue::from_static("11"));
        other.insert("grpc-message", HeaderValue::from_static("something else"));
        rewrite(&mut other);
        assert_eq!(other["grpc-status"], "11");
    }
}
