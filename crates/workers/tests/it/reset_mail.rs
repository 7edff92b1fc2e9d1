//! The mail worker drains the forgot-password queue: every request answered before the stop
//! gets its email while the node stops, within the grace time; requests the grace time cannot
//! hold are given up, and the stop still ends in time.

use portcullis_domain::mail::{Email, EmailSettings, Mailer};
use portcullis_domain::migration::forgot::{ForgotOutcome, ForgotPasswordRequest};
use portcullis_domain::*;
use portcullis_store::testing::{Backend, TestDb};
use portcullis_workers::{ResetMail, Workers};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

portcullis_store::on_both_backends!(
    queued_requests_are_sent_while_the_node_stops,
    requests_the_grace_time_cannot_hold_are_given_up_in_time,
);

/// A mail server that takes `delay` per email and keeps the recipients.
struct Slow {
    delay: Duration,
    sent: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl Mailer for Slow {
    async fn send(&self, _: &EmailSettings, email: &Email) -> Result<(), String> {
        tokio::time::sleep(self.delay).await;
        self.sent.lock().unwrap().push(email.to.clone());
        Ok(())
    }
}

/// A node whose mail takes `delay`, with `users` users, each of whom has asked for a reset;
/// answers the mailer and the running workers.
async fn asked(
    b: Backend,
    delay: Duration,
    users: usize,
    grace: Duration,
) -> (TestDb, Arc<Slow>, Workers) {
    let db = TestDb::new(b).await;
    let mailer = Arc::new(Slow {
        delay,
        sent: Mutex::new(Vec::new()),
    });
    let identity = crate::node(db.store.clone())
        .await
        .with_mailer(mailer.clone());
    let sessions = Sessions::new(identity.clone());
    let (resets, inbox) = reset_queue();
    let mut workers = Workers::new(grace);
    workers.spawn(ResetMail::new(sessions.clone(), inbox));
    for i in 0..users {
        let email = format!("forgot{i}@example.com");
        identity
            .create_user(
                Scope::ALL,
                None,
                User {
                    email: Some(email.clone()),
                    ..User::default()
                },
            )
            .await
            .unwrap();
        let outcome = sessions
            .forgot_password(
                Scope::ALL,
                ForgotPasswordRequest {
                    login_id: Some(email),
                    ..ForgotPasswordRequest::default()
                },
                false,
                &resets,
            )
            .await
            .unwrap();
        assert!(matches!(outcome, ForgotOutcome::Accepted));
    }
    (db, mailer, workers)
}

async fn queued_requests_are_sent_while_the_node_stops(b: Backend) {
    // More requests than the worker sends at once, each slow: most are still queued at the stop.
    let (_db, mailer, workers) =
        asked(b, Duration::from_millis(300), 20, Duration::from_secs(20)).await;
    workers.stop().await;
    let mut sent = mailer.sent.lock().unwrap().clone();
    sent.sort();
    let mut expected: Vec<String> = (0..20).map(|i| format!("forgot{i}@example.com")).collect();
    expected.sort();
    assert_eq!(sent, expected);
}

async fn requests_the_grace_time_cannot_hold_are_given_up_in_time(b: Backend) {
    let (_db, mailer, workers) =
        asked(b, Duration::from_secs(3600), 3, Duration::from_secs(1)).await;
    let stopping = Instant::now();
    workers.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(1),
        "{:?}",
        stopping.elapsed()
    );
    assert!(mailer.sent.lock().unwrap().is_empty());
}
