//! A login made elsewhere (the AWS CLI's) becoming the session's, as if the agent had made it.

use super::{facts, SessionSlot};
use crate::store::{Registration, TokenSet};

impl SessionSlot {
    /// Takes `token` (and `registration`, if any) as the session's: a login waiting for a person
    /// is ended first (its callers are told, and ask again), then the store, the cache file and
    /// the readers get the new token together, and the lifecycle is where a login leaves it (an
    /// expired token with a refresh token is refreshed on the next round or request). `source`
    /// (the AWS CLI's cache file) is what `status` names as where the login came from, in place
    /// of the flow of a login the agent ran.
    pub async fn adopt(
        &self,
        token: TokenSet,
        registration: Option<Registration>,
        source: String,
    ) -> Result<(), String> {
        self.state()
            .cancel
            .send_modify(|generation| *generation += 1);
        let mut session = self.session.lock().await;
        if self.is_retired() {
            return Err(self.retired_message());
        }
        session.adopt(token, registration).await;
        {
            let mut state = self.state();
            state.token = session.token().cloned();
            state.login_error = None;
            // No login flow ran for this token: the last one's would mislead.
            state.login_flow = None;
            state.imported_from = Some(source);
            let token = state.token.as_ref().map(facts);
            state.life.login_ended(token);
        }
        self.note_unsaved(&session);
        drop(session);
        self.changed.notify_one();
        Ok(())
    }

    /// The AWS CLI cache file the session's login was imported from, while no login the agent
    /// ran came after it (that one's flow is in `login_flow` then).
    pub fn imported_from(&self) -> Option<String> {
        let state = self.state();
        match state.login_flow {
            Some(_) => None,
            None => state.imported_from.clone(),
        }
    }
}
