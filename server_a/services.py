"""What the routes need, built once per app: settings, storage, keys, events, the worker."""

from __future__ import annotations

from dataclasses import dataclass

from protocol.paillier import PublicKey, key_id
from server_a.comparison_worker import ComparisonWorker
from server_a.core.config import Settings
from server_a.events import Broadcaster
from server_a.login_throttle import LoginThrottle
from server_a.ratelimit import Buckets
from server_a.storage import Storage


@dataclass
class Services:
    """Shared state of one server A process (kept on ``app.state.services``)."""

    settings: Settings
    storage: Storage
    broadcaster: Broadcaster
    worker: ComparisonWorker
    device_buckets: Buckets
    login_throttle: LoginThrottle
    ready: bool = False

    @property
    def system_key(self) -> PublicKey:
        return self.settings.share.public_key

    @property
    def system_key_id(self) -> str:
        return key_id(self.system_key)
