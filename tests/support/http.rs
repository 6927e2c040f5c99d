//! A blocking HTTP client for the tests (reqwest on a small runtime of its own), and the
//! address of a server's HTTP endpoint from its log.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

pub struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    pub base: String,
}

impl Http {
    pub fn new(addr: SocketAddr) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            base: format!("http://{addr}"),
        }
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        self.rt.block_on(async {
            let r = self
                .client
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    }

    /// GET, with the response's Content-Type.
    pub fn get_typed(&self, path: &str) -> (u16, String, Vec<u8>) {
        self.rt.block_on(async {
            let r = self
                .client
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap();
            let ct = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            (r.status().as_u16(), ct, r.bytes().await.unwrap().to_vec())
        })
    }

    /// GET with a bearer token.
    pub fn get_auth(&self, path: &str, token: &str) -> (u16, String) {
        self.rt.block_on(async {
            let r = self
                .client
                .get(format!("{}{path}", self.base))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    }

    pub fn post(&self, path: &str, token: Option<&str>) -> (u16, String) {
        self.rt.block_on(async {
            let mut req = self.client.post(format!("{}{path}", self.base));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    }

    pub fn json(&self, path: &str) -> Value {
        let (code, body) = self.get(path);
        assert_eq!(code, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }
}

/// `… http endpoint on 127.0.0.1:PORT` → the address.
pub fn http_addr(stderr: &[String]) -> SocketAddr {
    let line = stderr
        .iter()
        .find(|l| l.contains("http endpoint on "))
        .expect("http endpoint line");
    let at = line.find("http endpoint on ").unwrap() + "http endpoint on ".len();
    line[at..]
        .split(|c: char| c.is_whitespace() || c == '"')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}
