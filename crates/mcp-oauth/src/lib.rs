#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod client;
mod config;
#[cfg(feature = "testing")]
pub mod conformance;
mod error;
pub mod event;
pub mod external;
pub mod fetch;
mod http;
pub mod metadata;
mod pages;
mod params;
pub mod pkce;
mod record;
pub mod redirect;
mod resource;
mod scope;
mod seams;
mod secret;
mod server;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use client::RegisteredClient;
pub use config::{
    ClientMetadataDocumentConfig, DynamicRegistrationConfig, OAuthConfig, StaticClientConfig,
};
pub use error::{Error, ErrorCode, ErrorResponse};
pub use event::{EventSink, OAuthEvent};
pub use http::HttpResponse;
pub use pages::{Interaction, PAGE_SECURITY_HEADERS, Page, Redirect};
pub use record::Connection;
pub use resource::{BearerError, ProtectedResource, ProtectedResourceMetadata};
pub use scope::{MAX_SCOPE_TOKEN_LEN, MAX_SCOPES, ScopeError, ScopeSet};
pub use seams::{
    AccessTokenIssuer, AuthenticatedUser, AuthenticationError, MintedToken, PresentedToken,
    TokenRequest, UserAuthenticator,
};
pub use secret::Secret;
pub use server::{
    AuthorizationServer, AuthorizationServerBuilder, PURGE_GRACE_SECS, TokenResponse,
};
pub use store::OAuthStore;
