//! One path and the methods it answers, as HTTP expects: HEAD answers as GET (actix-http
//! sends the headers and no body), and any other method 405 with `Allow`, signed in or
//! not. (`ServiceConfig::route` would turn the method into a guard on a resource of its
//! own, so a wrong method fell through to 404.)

use crate::views::ErrorPage;
use actix_web::http::{header, StatusCode};
use actix_web::{guard, web, FromRequest, Handler, HttpResponse, Resource, Responder};
use askama::Template;

pub struct Endpoint {
    resource: Resource,
    allow: Vec<&'static str>,
}

/// How a 405 is written: the pages' HTML or the API's JSON.
#[derive(Clone, Copy)]
pub enum Answer {
    Page,
    Json,
}

impl Endpoint {
    pub fn at(path: &str) -> Self {
        Self {
            resource: web::resource(path),
            allow: Vec::new(),
        }
    }

    pub fn get<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.resource = self.resource.route(
            web::route()
                .guard(guard::Any(guard::Get()).or(guard::Head()))
                .to(handler),
        );
        self.allow.extend(["GET", "HEAD"]);
        self
    }

    pub fn post<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.resource = self.resource.route(web::post().to(handler));
        self.allow.push("POST");
        self
    }

    pub fn register(self, cfg: &mut web::ServiceConfig, answer: Answer) {
        let allow = self.allow.join(", ");
        cfg.service(self.resource.default_service(web::to(move || {
            let allow = allow.clone();
            async move { method_not_allowed(&allow, answer) }
        })));
    }
}

fn method_not_allowed(allow: &str, answer: Answer) -> HttpResponse {
    let status = StatusCode::METHOD_NOT_ALLOWED;
    let message = format!("This address answers only {allow}.");
    let mut response = HttpResponse::build(status);
    response.insert_header((header::ALLOW, allow.to_string()));
    match answer {
        Answer::Json => response.json(serde_json::json!({
            "error": "method_not_allowed",
            "message": message,
        })),
        Answer::Page => {
            let page = ErrorPage {
                status: status.as_u16(),
                title: "Method Not Allowed",
                message,
            };
            match page.render() {
                Ok(html) => response.content_type("text/html; charset=utf-8").body(html),
                Err(_) => response.content_type("text/plain; charset=utf-8").finish(),
            }
        }
    }
}
