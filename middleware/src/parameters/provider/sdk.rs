//! SSM Parameter Store through `aws-sdk-ssm`: `GetParameter` for one name, `GetParameters` for
//! up to 10, `GetParametersByPath` page by page. Always `WithDecryption`: a `SecureString`
//! arrives decrypted (and is redacted from then on); other types ignore the flag.

use aws_sdk_ssm::{
    Client,
    types::{Parameter, ParameterType},
};

use super::{PATH_PAGE_SIZE, split_selector};
use crate::{
    cache::{FetchError, FetchErrorKind, sdk::sdk_error},
    parameters::value::{Raw, RawContent},
};

/// More pages than a path can have (10,000 parameters per account and region): a
/// `NextToken` that never ends is an error, not a loop.
const MAX_PAGES: usize = 1_000;

/// The parameters `names` (at most 10, no two with the same base name): one result per name.
pub(super) async fn get_names(client: &Client, names: &[&str]) -> Vec<Result<Raw, FetchError>> {
    if let [name] = names {
        let answer = client
            .get_parameter()
            .name(*name)
            .with_decryption(true)
            .send()
            .await;
        return vec![match answer {
            Ok(output) => output
                .parameter
                .as_ref()
                .map(raw)
                .ok_or_else(|| no_parameter(name)),
            Err(error) => Err(sdk_error(error)),
        }];
    }
    let answer = client
        .get_parameters()
        .set_names(Some(names.iter().map(|n| (*n).to_owned()).collect()))
        .with_decryption(true)
        .send()
        .await;
    match answer {
        Ok(output) => names
            .iter()
            .map(|name| {
                output
                    .parameters()
                    .iter()
                    .find(|parameter| answers(parameter, name))
                    .map(raw)
                    .ok_or_else(|| no_parameter(name))
            })
            .collect(),
        Err(error) => {
            let error = sdk_error(error);
            names.iter().map(|_| Err(error.clone())).collect()
        }
    }
}

/// Every parameter under `path`, by name relative to it.
pub(super) async fn get_path(
    client: &Client,
    path: &str,
    recursive: bool,
) -> Result<Raw, FetchError> {
    let mut entries = Vec::new();
    let mut next_token = None;
    for _ in 0..MAX_PAGES {
        let page = client
            .get_parameters_by_path()
            .path(path)
            .recursive(recursive)
            .with_decryption(true)
            .max_results(PATH_PAGE_SIZE)
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(sdk_error)?;
        for parameter in page.parameters() {
            let name = parameter.name().unwrap_or_default();
            entries.push((relative_name(path, name).to_owned(), raw(parameter)));
        }
        match page.next_token {
            Some(token) if !token.is_empty() => next_token = Some(token),
            _ if entries.is_empty() => {
                return Err(FetchError::new(
                    FetchErrorKind::NotFound,
                    "ParameterNotFound",
                    format!("SSM has no parameters under path `{path}`"),
                ));
            }
            _ => {
                return Ok(Raw {
                    content: RawContent::Path(entries),
                    secure: false,
                    version: None,
                });
            }
        }
    }
    Err(FetchError::new(
        FetchErrorKind::Other,
        "TooManyPages",
        format!("GetParametersByPath for `{path}` was still paging after {MAX_PAGES} pages"),
    ))
}

/// Whether `parameter` is the answer to the name (or ARN, with an optional selector) that
/// was asked for. SSM answers with the plain name, and the selector when it reports one.
fn answers(parameter: &Parameter, requested: &str) -> bool {
    let (base, selector) = split_selector(requested);
    let named = parameter.name() == Some(base) || parameter.arn() == Some(base);
    named
        && parameter
            .selector()
            .is_none_or(|answered| answered == selector)
}

fn raw(parameter: &Parameter) -> Raw {
    Raw::text(
        parameter.value().unwrap_or_default().to_owned(),
        parameter.r#type() == Some(&ParameterType::SecureString),
        Some(parameter.version().to_string()),
    )
}

fn no_parameter(name: &str) -> FetchError {
    FetchError::from_code(
        "ParameterNotFound",
        format!("SSM has no parameter `{name}` (or not that version or label)"),
    )
}

/// `name` without the `path` it was listed under (`/shop/limits/max` under `/shop/limits` is
/// `max`).
fn relative_name<'n>(path: &str, name: &'n str) -> &'n str {
    name.strip_prefix(path.trim_end_matches('/'))
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_under_a_path_are_relative_to_it() {
        assert_eq!(relative_name("/shop/limits", "/shop/limits/max"), "max");
        assert_eq!(relative_name("/shop/limits/", "/shop/limits/a/b"), "a/b");
        assert_eq!(relative_name("/shop", "/other/x"), "/other/x");
        assert_eq!(relative_name("/", "/top"), "top");
    }

    #[test]
    fn answers_match_names_arns_and_selectors() {
        let parameter = Parameter::builder()
            .name("/shop/rules")
            .arn("arn:aws:ssm:us-east-1:123456789012:parameter/shop/rules")
            .build();
        let with_selector = Parameter::builder()
            .name("/shop/rules")
            .selector(":3")
            .build();
        let cases = [
            (&parameter, "/shop/rules", true),
            (&parameter, "/shop/rules:3", true),
            (
                &parameter,
                "arn:aws:ssm:us-east-1:123456789012:parameter/shop/rules",
                true,
            ),
            (&parameter, "/shop/other", false),
            (&with_selector, "/shop/rules:3", true),
            (&with_selector, "/shop/rules:4", false),
            (&with_selector, "/shop/rules", false),
        ];
        for (parameter, requested, expected) in cases {
            assert_eq!(answers(parameter, requested), expected, "{requested}");
        }
    }
}
