//! How a controller reaches its actuator: over gRPC to an actuator process (what drills kill and
//! cut off), or by a direct call to an actuator in the same process (what the simulator runs).
//! Both obey the same fencing rule and write the same fsynced audit trail; only the transport
//! differs, so the controller cannot tell them apart.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::actuator::{self, Actuator};
use crate::error::{Error, Result};
use crate::proto::actuator_client::ActuatorClient;
use crate::proto::{ClaimRequest, CommandRequest, Decision};

/// Where a controller's actuator is.
#[derive(Clone)]
pub enum ActuatorTarget {
    /// An actuator process at `host:port` (`skyway actuator`).
    Remote(String),
    /// An actuator in this process.
    Local(Arc<Actuator>),
}

impl fmt::Debug for ActuatorTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActuatorTarget::Remote(addr) => write!(f, "actuator at {addr}"),
            ActuatorTarget::Local(actuator) => write!(f, "in-process actuator ({})", actuator.trail_path().display()),
        }
    }
}

/// A connection to an actuator.
#[derive(Clone)]
pub enum ActuatorLink {
    /// gRPC to an actuator process (lazy: connects on first use, reconnects after failures).
    Remote(ActuatorClient<Channel>),
    /// Direct calls; the fsync runs on the blocking pool.
    Local(Arc<Actuator>),
}

impl ActuatorLink {
    /// A link to `target`. Fails only on a malformed address: connecting happens on first use.
    pub fn new(target: &ActuatorTarget) -> Result<Self> {
        match target {
            ActuatorTarget::Remote(addr) => {
                let endpoint = Endpoint::from_shared(format!("http://{addr}"))
                    .map_err(|e| Error::BadActuatorAddress { addr: addr.clone(), reason: e.to_string() })?
                    .connect_timeout(Duration::from_millis(500))
                    .timeout(Duration::from_secs(1))
                    .tcp_nodelay(true);
                Ok(Self::Remote(ActuatorClient::new(endpoint.connect_lazy())))
            }
            ActuatorTarget::Local(actuator) => Ok(Self::Local(actuator.clone())),
        }
    }

    /// Claims `role` with `token`, raising the actuator's floor at once.
    pub async fn claim(&self, role: &str, controller: &str, token: u64) -> Result<Decision> {
        let request = ClaimRequest { role: role.to_string(), controller: controller.to_string(), token };
        match self {
            Self::Remote(client) => Ok(client.clone().claim(request).await.map_err(Error::from_status)?.into_inner()),
            Self::Local(actuator) => actuator::handle_claim(actuator, request).await,
        }
    }

    /// Sends one fenced command.
    pub async fn command(&self, role: &str, controller: &str, token: u64, action: String) -> Result<Decision> {
        let request = CommandRequest { role: role.to_string(), controller: controller.to_string(), token, action };
        match self {
            Self::Remote(client) => Ok(client.clone().command(request).await.map_err(Error::from_status)?.into_inner()),
            Self::Local(actuator) => actuator::handle_command(actuator, request).await,
        }
    }
}
