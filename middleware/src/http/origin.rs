//! What differs between the HTTP event kinds once lambda_http has converted them: which
//! response headers the kind's response shape can carry.

use http::{HeaderMap, HeaderValue, header::SET_COOKIE};
use lambda_http::request::LambdaRequest;

/// The event kind, as far as the response headers are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// API Gateway REST API (payload 1.0): `multiValueHeaders` carries every value.
    RestApi,
    /// API Gateway HTTP API or Function URL (payload 2.0): one `headers` value per name and
    /// `Set-Cookie` values in `cookies`.
    HttpApi,
    /// ALB without multi-value headers: one `headers` value per name.
    AlbSingleValue,
    /// ALB with multi-value headers on the target group: `multiValueHeaders`.
    AlbMultiValue,
    /// A kind this module does not fit headers for.
    Other,
}

impl Origin {
    pub(crate) fn of(request: &LambdaRequest) -> Self {
        match request {
            LambdaRequest::ApiGatewayV1(_) => Self::RestApi,
            LambdaRequest::ApiGatewayV2(_) => Self::HttpApi,
            // ALB sends `multiValueHeaders` (and no `headers`) exactly when the target group
            // has multi-value headers on, and then reads only `multiValueHeaders` back.
            LambdaRequest::Alb(alb) if alb.multi_value_headers.is_empty() => Self::AlbSingleValue,
            LambdaRequest::Alb(_) => Self::AlbMultiValue,
            _ => Self::Other,
        }
    }

    /// Fits the response headers to what the shape can carry. lambda_http writes the *first*
    /// value of each name into a single-value `headers` map, so for HTTP API and single-value
    /// ALB the values of a repeated header are combined into one comma-separated value (RFC
    /// 9110, 5.3), except `Set-Cookie`: HTTP API takes every cookie from `cookies`, and
    /// single-value ALB can pass only one (logged).
    pub(crate) fn fit_headers(self, headers: &mut HeaderMap) {
        if !matches!(self, Self::HttpApi | Self::AlbSingleValue)
            || headers.len() == headers.keys_len()
        {
            return;
        }
        let repeated: Vec<_> = headers
            .keys()
            .filter(|name| **name != SET_COOKIE && headers.get_all(*name).iter().nth(1).is_some())
            .cloned()
            .collect();
        for name in repeated {
            let mut combined = Vec::new();
            for value in headers.get_all(&name) {
                if !combined.is_empty() {
                    combined.extend_from_slice(b", ");
                }
                combined.extend_from_slice(value.as_bytes());
            }
            if let Ok(value) = HeaderValue::from_bytes(&combined) {
                headers.insert(name, value);
            }
        }
        if self == Self::AlbSingleValue && headers.get_all(SET_COOKIE).iter().nth(1).is_some() {
            tracing::warn!(
                "the response sets several cookies, but the ALB target group passes only the \
                 first: turn on multi-value headers on the target group"
            );
        }
    }
}
