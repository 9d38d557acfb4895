//! The response future of `SecretsService` and `ParametersService`, re-exported by each in
//! its `future` module.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use futures_util::future::BoxFuture;
use lambda_runtime::{Diagnostic, LambdaEvent};
use pin_project_lite::pin_project;
use tower::Service;

pin_project! {
    /// The response future of the services that keep a cache warm (`SecretsService`,
    /// `ParametersService`): the inner call, possibly after recovering a stale value, or the
    /// error that refused the invocation.
    pub struct ResponseFuture<S, T>
    where
        S: Service<LambdaEvent<T>>,
    {
        #[pin]
        state: State<S, T>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, T>
    where
        S: Service<LambdaEvent<T>>,
    {
        Called { #[pin] future: S::Future },
        Recovering {
            recovery: BoxFuture<'static, Result<(), Diagnostic>>,
            inner: Option<(S, LambdaEvent<T>)>,
        },
        Rejected { error: Option<Diagnostic> },
    }
}

impl<S, T> Future for ResponseFuture<S, T>
where
    S: Service<LambdaEvent<T>>,
    S::Error: Into<Diagnostic>,
{
    type Output = Result<S::Response, Diagnostic>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Called { future } => return future.poll(cx).map_err(Into::into),
                StateProj::Recovering { recovery, inner } => {
                    let recovered = std::task::ready!(recovery.as_mut().poll(cx));
                    let (mut service, event) = inner
                        .take()
                        .expect("ResponseFuture polled after completion");
                    state.set(match recovered {
                        Ok(()) => State::Called {
                            future: service.call(event),
                        },
                        Err(error) => State::Rejected { error: Some(error) },
                    });
                }
                StateProj::Rejected { error } => {
                    return Poll::Ready(Err(error
                        .take()
                        .expect("ResponseFuture polled after completion")));
                }
            }
        }
    }
}

impl<S, T> ResponseFuture<S, T>
where
    S: Service<LambdaEvent<T>>,
{
    pub(crate) fn called(future: S::Future) -> Self {
        Self {
            state: State::Called { future },
        }
    }

    pub(crate) fn recovering(
        recovery: BoxFuture<'static, Result<(), Diagnostic>>,
        inner: S,
        event: LambdaEvent<T>,
    ) -> Self {
        Self {
            state: State::Recovering {
                recovery,
                inner: Some((inner, event)),
            },
        }
    }

    pub(crate) fn rejected(error: Diagnostic) -> Self {
        Self {
            state: State::Rejected { error: Some(error) },
        }
    }
}
