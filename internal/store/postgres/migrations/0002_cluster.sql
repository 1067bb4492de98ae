-- +goose Up
CREATE TABLE nodes (
    id           text        NOT NULL PRIMARY KEY,
    address      text        NOT NULL,
    version      text        NOT NULL,
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL
);

CREATE TABLE duties (
    name       text        NOT NULL PRIMARY KEY,
    holder     text        NOT NULL,
    fence      bigint      NOT NULL,
    expires_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE duties;
DROP TABLE nodes;
