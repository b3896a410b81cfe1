use crate::state::AppState;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use subtle::ConstantTimeEq;

/// 200 when the database answers a query, 503 otherwise.
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let answered = state.db(|conn| Ok(crate::db::ping(conn)?)).await;
    match answered {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ok"),
        Err(_) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("database unavailable"),
    }
}

/// Prometheus metrics (text format): aggregate counts only, nothing about any account.
/// With `SESAME_METRICS_TOKEN` set, only for requests bearing it.
pub async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let Some(expected) = &state.settings.metrics_token {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bool::from(presented.as_bytes().ct_eq(expected.expose().as_bytes())) {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"Sesame metrics\""))
                .content_type("text/plain; charset=utf-8")
                .body("/metrics needs the bearer token set in SESAME_METRICS_TOKEN.\n");
        }
    }
    // Read before the outbox, which waits for the database when it is down.
    let check_cache_serving = state.check_cache.serving();
    let outbox = state
        .db(|conn| Ok(crate::db::outbox::depth(conn)?))
        .await
        .unwrap_or_default();
    let pool = state.pool.state();
    let body = state.metrics.render(&crate::metrics::Gauges {
        outbox,
        pool_connections: pool.connections,
        pool_idle: pool.idle_connections,
        pool_max: state.pool.max_size(),
        check_cache_serving,
    });
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}
