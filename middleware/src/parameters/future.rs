//! The response future of [`ParametersService`](super::ParametersService).

pub use crate::cache::future::ResponseFuture;
