//! `skiff nodes list`: the edge nodes the control plane knows (`GET /v1/nodes`), with the
//! zone each serves, the revision it applied, the replica it syncs from and when it was last
//! seen; as a table, or as JSON.

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use clap::Subcommand;
use reqwest::Method;
use skiff_protocol::{NodeList, NodeStatus};
use skiff_runtime::escape_control;

use crate::client::{Client, ControlArgs};
use crate::platform::Format;

#[derive(Subcommand)]
pub enum NodesCommand {
    /// The nodes seen recently: id, zone, applied revision, the control-plane replica each
    /// syncs from ("-" when disconnected), when each was last seen.
    List {
        #[arg(long, value_enum, default_value_t = Format::Pretty)]
        format: Format,
        #[command(flatten)]
        control: ControlArgs,
    },
}

pub async fn run(command: NodesCommand) -> Result<()> {
    match command {
        NodesCommand::List { format, control } => {
            let client = Client::new(&control)?;
            let list: NodeList = client
                .json(client.request(Method::GET, "/v1/nodes"))
                .await
                .context("listing the nodes")?;
            if format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.nodes.is_empty() {
                println!("No edge node has been seen recently.");
            } else {
                print!("{}", table(&list.nodes, now_ms()));
            }
            Ok(())
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The nodes as a table, one line each under a header, columns as wide as their widest cell.
/// Every field a node or the control plane chose goes through [`escape_control`].
fn table(nodes: &[NodeStatus], now_ms: u64) -> String {
    let header = ["id", "zone", "revision", "replica", "last seen"];
    let rows: Vec<[String; 5]> = nodes
        .iter()
        .map(|node| {
            let replica = match (&node.replica, node.connected) {
                (Some(replica), true) => escape_control(replica).into_owned(),
                _ => "-".to_string(),
            };
            [
                escape_control(&node.id).into_owned(),
                node.zone
                    .as_deref()
                    .map_or("-".into(), |zone| escape_control(zone).into_owned()),
                node.revision.to_string(),
                replica,
                ago(now_ms.saturating_sub(node.last_seen_ms)),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let [id, zone, revision, replica, seen] = cells;
        format!(
            "{id:<w0$}  {zone:<w1$}  {revision:>w2$}  {replica:<w3$}  {seen}",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        )
        .trim_end()
        .to_string()
    };
    let mut out = line(header) + "\n";
    for row in &rows {
        out += &line(row.each_ref().map(String::as_str));
        out.push('\n');
    }
    out
}

/// How long ago, in the largest whole unit: `3s ago`, `5m ago`, `2h ago`, `4d ago`.
fn ago(elapsed_ms: u64) -> String {
    let secs = Duration::from_millis(elapsed_ms).as_secs();
    match secs {
        0..60 => format!("{secs}s ago"),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86_400 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, connected: bool, replica: Option<&str>, last_seen_ms: u64) -> NodeStatus {
        NodeStatus {
            id: id.into(),
            connected,
            revision: 42,
            last_seen_ms,
            zone: Some("edge.example".into()),
            replica: replica.map(str::to_string),
        }
    }

    #[test]
    fn ago_uses_the_largest_whole_unit() {
        assert_eq!(ago(0), "0s ago");
        assert_eq!(ago(3_999), "3s ago");
        assert_eq!(ago(59_999), "59s ago");
        assert_eq!(ago(60_000), "1m ago");
        assert_eq!(ago(5 * 60_000 + 59_000), "5m ago");
        assert_eq!(ago(2 * 3_600_000), "2h ago");
        assert_eq!(ago(4 * 86_400_000 + 1), "4d ago");
    }

    #[test]
    fn the_table_aligns_columns_and_shows_a_dash_for_a_disconnected_node() {
        let now = 1_000_000_000;
        let nodes = [
            node("a1", true, Some("http://10.0.0.1:8700"), now - 3_000),
            // The control plane may still name the replica of a closed stream: not shown.
            node(
                "b-long-node-id",
                false,
                Some("http://10.0.0.2:8700"),
                now - 300_000,
            ),
            NodeStatus {
                zone: None,
                ..node("c\u{1b}[2J", true, Some("http://r\n"), now + 5_000)
            },
        ];
        let table = table(&nodes, now);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines,
            [
                "id              zone          revision  replica               last seen",
                "a1              edge.example        42  http://10.0.0.1:8700  3s ago",
                "b-long-node-id  edge.example        42  -                     5m ago",
                "c\\u{1b}[2J      -                   42  http://r\\n            0s ago",
            ]
        );
    }
}
