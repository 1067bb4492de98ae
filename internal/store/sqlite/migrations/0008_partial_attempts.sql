-- +goose Up
-- The claim's, the next due time's and the lease expiry's indexes hold
-- only the attempts they look for (as on PostgreSQL): a finished attempt
-- is in none of them, and an attempt's claim and finish each touch one
-- index entry or two instead of six.
DROP INDEX attempts_claim;
DROP INDEX attempts_claim_priority;
DROP INDEX attempts_lease;
CREATE INDEX attempts_claim ON attempts (queue, not_before) WHERE status = 'queued';
CREATE INDEX attempts_claim_priority ON attempts (queue, priority DESC, not_before, id) WHERE status = 'queued';
CREATE INDEX attempts_lease ON attempts (lease_expires_at) WHERE status = 'running';

-- +goose Down
DROP INDEX attempts_lease;
DROP INDEX attempts_claim_priority;
DROP INDEX attempts_claim;
CREATE INDEX attempts_claim ON attempts (status, queue, not_before);
CREATE INDEX attempts_claim_priority ON attempts (status, queue, priority DESC, not_before, id);
CREATE INDEX attempts_lease ON attempts (status, lease_expires_at);
