//! `GET /`: the page, one self-contained document served from the binary (no CDN, fonts or
//! scripts from elsewhere; it works offline). It polls the API with relative URLs, so it works
//! under `--web-base-path` and behind a proxy that strips the prefix.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const PAGE: &str = include_str!("../../templates/web.html");

pub(super) async fn index() -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
        .into_response()
}
