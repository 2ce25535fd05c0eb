//! The throwaway PostgreSQL of `common/postgres.rs` does what the store's tests rely on: it
//! answers with the password of its URL and no other, committed rows survive a fast shutdown
//! and a killed server, and dropping it stops the server and removes its directory.

#[path = "common/postgres.rs"]
mod postgres;

use postgres::TempPostgres;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

async fn connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

async fn notes(client: &Client) -> Vec<(i32, String)> {
    client
        .query("SELECT id, note FROM marks ORDER BY id", &[])
        .await
        .expect("marks readable")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

fn owned(rows: &[(i32, &str)]) -> Vec<(i32, String)> {
    rows.iter()
        .map(|(id, note)| (*id, note.to_string()))
        .collect()
}

/// How many starts replayed the write-ahead log after a crash.
fn recoveries(postgres: &TempPostgres) -> usize {
    postgres
        .log()
        .matches("database system was not properly shut down")
        .count()
}

#[tokio::test]
async fn answers_with_its_password_and_no_other() {
    let postgres = TempPostgres::start().expect("postgres starts");
    let url = postgres.url();
    assert_eq!(
        url,
        format!(
            "postgres://skiff:{}@127.0.0.1:{}/skiff",
            postgres.password(),
            postgres.port()
        )
    );
    let client = connect(&url).await.expect("connects with the password");
    let one: i32 = client
        .query_one("SELECT 1", &[])
        .await
        .expect("SELECT 1")
        .get(0);
    assert_eq!(one, 1);
    let database: String = client
        .query_one("SELECT current_database()", &[])
        .await
        .expect("current_database")
        .get(0);
    assert_eq!(database, "skiff");

    let wrong = format!("postgres://skiff:wrong@127.0.0.1:{}/skiff", postgres.port());
    let error = connect(&wrong)
        .await
        .expect_err("a wrong password is refused");
    assert_eq!(error.code(), Some(&SqlState::INVALID_PASSWORD), "{error}");
    let none = format!("postgres://skiff@127.0.0.1:{}/skiff", postgres.port());
    assert!(connect(&none).await.is_err(), "no password is refused too");
}

#[tokio::test]
async fn committed_rows_survive_a_stop_and_a_kill() {
    let mut postgres = TempPostgres::start().expect("postgres starts");
    let port = postgres.port();
    let client = connect(&postgres.url()).await.expect("connects");
    client
        .batch_execute(
            "CREATE TABLE marks (id integer PRIMARY KEY, note text NOT NULL);
             INSERT INTO marks VALUES (1, 'before the stop');",
        )
        .await
        .expect("table written");
    drop(client);

    postgres.stop();
    assert!(
        connect(&postgres.url()).await.is_err(),
        "a stopped server answers nobody"
    );
    postgres.start_again().expect("starts after a stop");
    assert_eq!(postgres.port(), port, "the same port after a restart");
    assert_eq!(
        recoveries(&postgres),
        0,
        "a fast shutdown needs no recovery"
    );
    let client = connect(&postgres.url()).await.expect("connects again");
    assert_eq!(notes(&client).await, owned(&[(1, "before the stop")]));
    client
        .execute("INSERT INTO marks VALUES (2, 'before the kill')", &[])
        .await
        .expect("row committed");

    // No checkpoint after the insert: the row survives in the write-ahead log only.
    postgres.kill();
    assert!(
        client.query_one("SELECT 1", &[]).await.is_err(),
        "a killed server drops its connections"
    );
    postgres.start_again().expect("recovers after a kill");
    assert_eq!(
        recoveries(&postgres),
        1,
        "a kill is a crash: {}",
        postgres.log()
    );
    let client = connect(&postgres.url())
        .await
        .expect("connects after recovery");
    assert_eq!(
        notes(&client).await,
        owned(&[(1, "before the stop"), (2, "before the kill")])
    );
}

#[tokio::test]
async fn dropping_stops_the_server_and_removes_its_directory() {
    let postgres = TempPostgres::start().expect("postgres starts");
    let (url, dir) = (postgres.url(), postgres.dir().to_path_buf());
    assert!(dir.join("data").join("PG_VERSION").is_file());
    connect(&url).await.expect("connects while it runs");
    drop(postgres);
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(connect(&url).await.is_err(), "the server is gone");
}
