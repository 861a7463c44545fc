//! Server-side printing: the `meta.k8s.io` `Table` that `kubectl get`
//! asks for with `Accept: application/json;as=Table;v=v1;g=meta.k8s.io, …`.
//!
//! The real server has a printer per kind with many columns; this one prints
//! the columns people look at first: `Name` and `Age` for every kind, plus
//! `Ready`/`Status`/`Restarts` for Pods and `Ready`/`Up-to-date`/`Available`
//! for Deployments. Each row carries the object as `includeObject` asks
//! (`None`, `Metadata` — the default, a `PartialObjectMetadata` — or `Object`).

use std::sync::Arc;

use serde_json::{Value, json};

use super::discovery::Resource;
use super::http::media_params;
use crate::token::unix_now;

/// The Table version the `Accept` header asks for first (`v1` or
/// `v1beta1`), if any.
pub(crate) fn requested(accept: &str) -> Option<String> {
    accept.split(',').find_map(|media| {
        let params = media_params(media);
        let is = |k: &str, v: &str| params.iter().any(|(pk, pv)| pk == k && pv == v);
        if is("as", "Table") && is("g", "meta.k8s.io") {
            ["v1", "v1beta1"]
                .into_iter()
                .find(|v| is("v", v))
                .map(str::to_string)
        } else {
            None
        }
    })
}

fn column(name: &str, typ: &str, format: &str, description: &str) -> Value {
    json!({ "name": name, "type": typ, "format": format, "description": description, "priority": 0 })
}

/// The Table of `objects` of `res`.
pub(crate) fn table(
    res: &Resource,
    objects: &[Arc<Value>],
    version: &str,
    include: Option<&str>,
    rv: Option<u64>,
) -> Value {
    let name = column(
        "Name",
        "string",
        "name",
        "Name must be unique within a namespace.",
    );
    let age = column(
        "Age",
        "string",
        "",
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    );
    let mut columns = vec![name];
    match res.kind {
        "Pod" => columns.extend([
            column("Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic."),
            column("Status", "string", "", "The aggregate status of the containers in this pod."),
            column("Restarts", "string", "", "The number of times the containers in this pod have been restarted."),
        ]),
        "Deployment" => columns.extend([
            column("Ready", "string", "", "Number of the pod with ready state"),
            column("Up-to-date", "string", "", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
            column("Available", "string", "", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
        ]),
        _ => {}
    }
    columns.push(age);
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| row(res, o, include.unwrap_or("Metadata"), version))
        .collect();
    let mut metadata = json!({});
    if let Some(rv) = rv {
        metadata["resourceVersion"] = json!(rv.to_string());
    }
    json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": metadata,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

fn row(res: &Resource, o: &Value, include: &str, version: &str) -> Value {
    let text = |p: &str| {
        o.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let num = |p: &str| o.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let mut cells = vec![json!(text("/metadata/name"))];
    match res.kind {
        "Pod" => {
            let statuses = o
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let total = o
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let ready = statuses.iter().filter(|s| s["ready"] == true).count();
            let restarts: i64 = statuses
                .iter()
                .filter_map(|s| s["restartCount"].as_i64())
                .sum();
            cells.push(json!(format!("{ready}/{total}")));
            cells.push(json!(pod_status(o)));
            cells.push(json!(restarts));
        }
        "Deployment" => {
            cells.push(json!(format!(
                "{}/{}",
                num("/status/readyReplicas"),
                num("/spec/replicas")
            )));
            cells.push(json!(num("/status/updatedReplicas")));
            cells.push(json!(num("/status/availableReplicas")));
        }
        _ => {}
    }
    cells.push(json!(age(&text("/metadata/creationTimestamp"))));
    let mut row = json!({ "cells": cells });
    match include {
        "None" => {}
        "Object" => row["object"] = o.clone(),
        _ => {
            row["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": format!("meta.k8s.io/{version}"),
                "metadata": o.get("metadata").cloned().unwrap_or(json!({})),
            })
        }
    }
    row
}

/// What `kubectl get pods` shows in STATUS: a waiting or terminated reason
/// (`Init:` prefixed for init containers), else the phase.
fn pod_status(pod: &Value) -> String {
    let reason_of = |statuses: Option<&Value>| -> Option<String> {
        statuses?.as_array()?.iter().find_map(|s| {
            let state = s.get("state")?;
            ["waiting", "terminated"]
                .iter()
                .find_map(|k| state.get(*k)?.get("reason")?.as_str())
                .filter(|r| *r != "Completed" || s["ready"] == false)
                .map(str::to_string)
        })
    };
    if let Some(r) = reason_of(pod.pointer("/status/initContainerStatuses")) {
        return format!("Init:{r}");
    }
    if let Some(r) = reason_of(pod.pointer("/status/containerStatuses")) {
        return r;
    }
    pod.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Unknown")
        .to_string()
}

/// `kubectl`'s human age (`k8s.io/apimachinery/pkg/util/duration.HumanDuration`).
fn age(timestamp: &str) -> String {
    let Some(then) = parse_rfc3339(timestamp) else {
        return "<unknown>".to_string();
    };
    human_duration(unix_now().saturating_sub(then))
}

fn human_duration(secs: u64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86_400);
    let y = d / 365;
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => match s % 60 {
            0 => format!("{m}m"),
            r => format!("{m}m{r}s"),
        },
        s if s < 3 * 3600 => format!("{m}m"),
        s if s < 8 * 3600 => match m % 60 {
            0 => format!("{h}h"),
            r => format!("{h}h{r}m"),
        },
        s if s < 48 * 3600 => format!("{h}h"),
        s if s < 8 * 86_400 => match h % 24 {
            0 => format!("{d}d"),
            r => format!("{d}d{r}h"),
        },
        _ if d < 2 * 365 => format!("{d}d"),
        _ if y < 8 => match d % 365 {
            0 => format!("{y}y"),
            r => format!("{y}y{r}d"),
        },
        _ => format!("{y}y"),
    }
}

/// Unix seconds of `2024-05-01T12:00:00Z` (UTC, `Z` only, as the API writes).
pub(crate) fn parse_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 20 || b[19] != b'Z' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (h, mi, s) = (n(11..13)?, n(14..16)?, n(17..19)?);
    // Howard Hinnant's days_from_civil.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::rfc3339;

    #[test]
    fn durations_read_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(185), "3m5s");
        assert_eq!(human_duration(3600), "60m");
        assert_eq!(human_duration(4 * 3600 + 60 * 7), "4h7m");
        assert_eq!(human_duration(30 * 3600), "30h");
        assert_eq!(human_duration(3 * 86_400 + 3600), "3d1h");
        assert_eq!(human_duration(100 * 86_400), "100d");
    }

    #[test]
    fn rfc3339_round_trips() {
        for t in [0, 951_782_400, 1_714_564_800, 1_795_000_123] {
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        }
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn table_accept_headers() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(requested(kubectl).as_deref(), Some("v1"));
        assert_eq!(requested("application/json"), None);
    }
}
