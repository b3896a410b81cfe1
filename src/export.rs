//! CSV downloads (Expired & Revoked, the audit log), every cell safe to open in a
//! spreadsheet.

use crate::error::AppError;
use actix_web::http::header;
use actix_web::HttpResponse;
use std::borrow::Cow;

pub struct CsvFile {
    writer: csv::Writer<Vec<u8>>,
}

impl CsvFile {
    pub fn new(header: &[&str]) -> Result<Self, AppError> {
        let mut file = Self {
            writer: csv::Writer::from_writer(Vec::new()),
        };
        file.row(header)?;
        Ok(file)
    }

    pub fn row(&mut self, cells: &[&str]) -> Result<(), AppError> {
        self.writer
            .write_record(cells.iter().map(|cell| spreadsheet_safe(cell).into_owned()))
            .map_err(|e| AppError::internal(format!("csv: {e}")))
    }

    /// The download, never cached.
    pub fn response(self, filename: &str) -> Result<HttpResponse, AppError> {
        let body = self
            .writer
            .into_inner()
            .map_err(|e| AppError::internal(format!("csv: {e}")))?;
        Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body))
    }
}

/// A cell that a spreadsheet would run as a formula gets a leading apostrophe (OWASP).
pub fn spreadsheet_safe(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '|' | '%') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

pub fn utc(at: chrono::NaiveDateTime) -> String {
    at.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused() {
        assert_eq!(
            spreadsheet_safe("=cmd|' /C calc'!A0"),
            "'=cmd|' /C calc'!A0"
        );
        for dangerous in ["+1", "-1+2", "@SUM(A1)", "\tx"] {
            assert!(spreadsheet_safe(dangerous).starts_with('\''));
        }
        assert_eq!(spreadsheet_safe("plain name"), "plain name");
    }
}
