pub mod account;
pub mod bulk;
pub mod classifier;
pub mod documents;
pub mod folders;
pub mod llm;
pub mod matching;
pub mod metadata;
pub mod ops;
pub mod pages;
pub mod path_templates;
pub mod search;
pub mod tags;
pub mod views;
pub mod workflows;

use serde::Deserialize;

use super::error::ApiError;
use crate::domain::PageReq;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub page: Option<u32>,
    pub page_size: Option<u32>,
}

pub const MAX_PAGE_SIZE: u32 = 500;

pub fn page_req(page: Option<u32>, page_size: Option<u32>) -> Result<PageReq, ApiError> {
    let page = page.unwrap_or(1);
    let page_size = page_size.unwrap_or(50);
    if page == 0 {
        return Err(ApiError::bad_request("page starts at 1"));
    }
    if page_size == 0 || page_size > MAX_PAGE_SIZE {
        return Err(ApiError::bad_request(format!("page_size must be between 1 and {MAX_PAGE_SIZE}")));
    }
    if page as u64 * page_size as u64 > 10_000_000 {
        return Err(ApiError::bad_request("page is too far"));
    }
    Ok(PageReq { page, page_size })
}
