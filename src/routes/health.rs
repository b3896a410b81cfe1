use crate::startup::AppState;
use actix_web::{web, HttpResponse};
use diesel::connection::SimpleConnection;

/// 200 when the database answers a query, 503 otherwise.
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let answered = crate::db::run(&state.pool, |conn| {
        conn.batch_execute("SELECT 1")?;
        Ok(())
    })
    .await;
    match answered {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ok"),
        Err(_) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("database unavailable"),
    }
}
