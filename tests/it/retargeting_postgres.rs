//! Invalid User Identifier with a retargeting list of realistic size, loaded from
//! Postgres into the snapshot. (How fast it loads is measured, not asserted:
//! see the closing notes and `docs/RULES.md`.)

use std::time::Duration;

use crate::common::*;

#[tokio::test]
async fn large_retargeting_list_is_loaded_and_enforced() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    db.exec(
        "INSERT INTO offer_retargeting_ids (offer_id, device_id)
         SELECT 1, md5(i::text)::uuid::text FROM generate_series(1, 100000) AS i",
    )
    .await;
    let listed: String = sqlx::query_scalar("SELECT md5('54321')::uuid::text")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let server = start(config_for(Some(&db))).await;
    wait_ready(server.addr).await;
    let url = |idfa: &str| format!("http://{}/c?oid=1&affid=1&idfa={idfa}", server.addr);
    assert_eq!(
        client()
            .get(url(&listed.to_uppercase()))
            .send()
            .await
            .unwrap()
            .status(),
        302
    );
    assert_eq!(
        client()
            .get(url("00000000-0000-0000-0000-000000000001"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    server.shutdown().await.unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM clicks WHERE discard_rule = 'INVALID_USER_IDENTIFIER'")
            .await,
        1
    );
    db.drop_database().await;
}

#[tokio::test]
async fn unrelated_edits_reuse_the_list_and_list_edits_reload_it() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    db.exec(
        "INSERT INTO offer_retargeting_ids (offer_id, device_id)
         SELECT 1, md5(i::text)::uuid::text FROM generate_series(1, 1000) AS i",
    )
    .await;
    let server = start(config_for(Some(&db))).await;
    wait_ready(server.addr).await;
    let list = |server: &switchyard::app::RunningServer| {
        server
            .catalog
            .current()
            .unwrap()
            .offer(1)
            .unwrap()
            .retargeting_ids
            .clone()
            .unwrap()
    };
    let before = list(&server);
    let version = server.catalog.current().unwrap().version;

    db.exec("UPDATE offers SET name = 'Renamed' WHERE id = 1")
        .await;
    let reloaded = eventually(Duration::from_secs(2), || async {
        server
            .catalog
            .current()
            .unwrap()
            .offer(1)
            .unwrap()
            .name
            .as_ref()
            == "Renamed"
    })
    .await;
    assert!(reloaded);
    assert!(server.catalog.current().unwrap().version > version);
    assert!(
        std::sync::Arc::ptr_eq(&before, &list(&server)),
        "an unchanged list must be reused"
    );

    let new_id = "00000000-0000-0000-0000-00000000abcd";
    db.exec(&format!(
        "INSERT INTO offer_retargeting_ids (offer_id, device_id) VALUES (1, '{new_id}')"
    ))
    .await;
    let picked_up = eventually(Duration::from_secs(2), || async {
        list(&server).contains(new_id)
    })
    .await;
    assert!(picked_up, "a changed list must be re-read");
    assert_eq!(list(&server).len(), 1001);
    assert_eq!(
        client()
            .get(format!(
                "http://{}/c?oid=1&affid=1&idfa={new_id}",
                server.addr
            ))
            .send()
            .await
            .unwrap()
            .status(),
        302
    );
    server.shutdown().await.unwrap();
    db.drop_database().await;
}
