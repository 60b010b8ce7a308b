SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: identity; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA identity;

--
-- Name: SCHEMA identity; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON SCHEMA identity IS 'The identity module (modules/identity): accounts, their activation codes, the per-address budgets.';

--
-- Name: platform; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA platform;

--
-- Name: SCHEMA platform; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON SCHEMA platform IS 'What the platform (platform/) keeps for every module: the email outbox.';

--
-- Name: river; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA river;

--
-- Name: SCHEMA river; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON SCHEMA river IS 'The job system (platform/jobs): River''s tables, made by its own migrations.';

--
-- Name: river_job_state; Type: TYPE; Schema: river; Owner: -
--

CREATE TYPE river.river_job_state AS ENUM (
    'available',
    'cancelled',
    'completed',
    'discarded',
    'pending',
    'retryable',
    'running',
    'scheduled'
);

--
-- Name: river_job_state_in_bitmask(bit, river.river_job_state); Type: FUNCTION; Schema: river; Owner: -
--

CREATE FUNCTION river.river_job_state_in_bitmask(bitmask bit, state river.river_job_state) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT CASE state
        WHEN 'available' THEN get_bit(bitmask, 7)
        WHEN 'cancelled' THEN get_bit(bitmask, 6)
        WHEN 'completed' THEN get_bit(bitmask, 5)
        WHEN 'discarded' THEN get_bit(bitmask, 4)
        WHEN 'pending'   THEN get_bit(bitmask, 3)
        WHEN 'retryable' THEN get_bit(bitmask, 2)
        WHEN 'running'   THEN get_bit(bitmask, 1)
        WHEN 'scheduled' THEN get_bit(bitmask, 0)
        ELSE 0
    END = 1;
$$;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: account_events; Type: TABLE; Schema: identity; Owner: -
--

CREATE TABLE identity.account_events (
    seq bigint NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    account_id uuid NOT NULL,
    type text NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    data jsonb DEFAULT '{}'::jsonb NOT NULL,
    client text DEFAULT ''::text NOT NULL,
    request_id text DEFAULT ''::text NOT NULL,
    CONSTRAINT account_events_type_check CHECK ((type = ANY (ARRAY['account.registered'::text, 'account.activated'::text, 'account.signed_in'::text, 'account.password_changed'::text, 'account.password_reset'::text, 'account.email_changed'::text, 'account.disabled'::text, 'account.enabled'::text, 'account.sessions_revoked'::text, 'account.deleted'::text])))
);

--
-- Name: TABLE account_events; Type: COMMENT; Schema: identity; Owner: -
--

COMMENT ON TABLE identity.account_events IS 'The audit trail: every change of an account as an event, written in the change''s transaction. Kept AUDIT_RETENTION; a deletion strips the account''s email addresses.';

--
-- Name: account_events_seq_seq; Type: SEQUENCE; Schema: identity; Owner: -
--

ALTER TABLE identity.account_events ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME identity.account_events_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: accounts; Type: TABLE; Schema: identity; Owner: -
--

CREATE TABLE identity.accounts (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    email text NOT NULL,
    password_hash text NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    activated_at timestamp with time zone,
    disabled_at timestamp with time zone,
    CONSTRAINT accounts_activated_at_check CHECK (((status = 'active'::text) = (activated_at IS NOT NULL))),
    CONSTRAINT accounts_email_length_check CHECK (((char_length(email) >= 3) AND (char_length(email) <= 254))),
    CONSTRAINT accounts_email_lower_check CHECK ((email = lower(email))),
    CONSTRAINT accounts_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'active'::text])))
);

--
-- Name: TABLE accounts; Type: COMMENT; Schema: identity; Owner: -
--

COMMENT ON TABLE identity.accounts IS 'Registered users; pending until the emailed activation code is confirmed. Other modules refer to an account by its id (no foreign key across schemas).';

--
-- Name: COLUMN accounts.email; Type: COMMENT; Schema: identity; Owner: -
--

COMMENT ON COLUMN identity.accounts.email IS 'Lower-cased address, unique (accounts_email_key): the constraint decides concurrent registrations.';

--
-- Name: COLUMN accounts.password_hash; Type: COMMENT; Schema: identity; Owner: -
--

COMMENT ON COLUMN identity.accounts.password_hash IS 'argon2id hash in PHC form (parameters included); never the password.';

--
-- Name: COLUMN accounts.status; Type: COMMENT; Schema: identity; Owner: -
--

COMMENT ON COLUMN identity.accounts.status IS 'pending until activated, then active; activated_at is set exactly when active.';

--
-- Name: COLUMN accounts.created_at; Type: COMMENT; Schema: identity; Owner: -
--

COMMENT ON COLUMN identity.accounts.created_at IS 'When the account was registered, or taken over by a re-registration of its pending address.';

--
-- Name: COLUMN accounts.disabled_at; Type: COMMENT; Schema: identity; Owner: -
--

COMMENT ON COLUMN identity.accounts.disabled_at IS 'When an administrator disabled the account (403 account_disabled from then on); NULL while enabled.';

--
-- Name: activation_codes; Type: TABLE; Schema: identity; Owner: -
--

CREATE TABLE identity.activation_codes (
    account_id uuid NOT NULL,
    code text NOT NULL,
    issued_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    failed_attempts integer DEFAULT 0 NOT NULL,
    CONSTRAINT activation_codes_code_check CHECK ((code ~ '^[0-9]{4}$'::text)),
    CONSTRAINT activation_codes_expiry_check CHECK ((expires_at > issued_at)),
    CONSTRAINT activation_codes_failed_attempts_check CHECK ((failed_attempts >= 0))
);

--
-- Name: TABLE activation_codes; Type: COMMENT; Schema: identity; Owner: -
--

COMMENT ON TABLE identity.activation_codes IS 'The one valid activation code of each pending account; deleted on activation. Stored in clear: 10^4 values make a hash useless.';

--
-- Name: COLUMN activation_codes.code; Type: COMMENT; Schema: identity; Owner: -
--

COMMENT ON COLUMN identity.activation_codes.code IS 'Four ASCII digits, drawn with a cryptographic random source.';

--
-- Name: COLUMN activation_codes.expires_at; Type: COMMENT; Schema: identity; Owner: -
--

COMMENT ON COLUMN identity.activation_codes.expires_at IS 'issued_at + ACTIVATION_CODE_TTL, judged on the database clock.';

--
-- Name: COLUMN activation_codes.failed_attempts; Type: COMMENT; Schema: identity; Owner: -
--

COMMENT ON COLUMN identity.activation_codes.failed_attempts IS 'Wrong guesses against this code; at ACTIVATION_CODE_MAX_ATTEMPTS the code is locked.';

--
-- Name: activation_ledger; Type: TABLE; Schema: identity; Owner: -
--

CREATE TABLE identity.activation_ledger (
    id bigint NOT NULL,
    mailbox text NOT NULL,
    kind text NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    CONSTRAINT activation_ledger_kind_check CHECK ((kind = ANY (ARRAY['code_issued'::text, 'wrong_code'::text, 'reset_issued'::text, 'wrong_reset_code'::text]))),
    CONSTRAINT activation_ledger_mailbox_lower_check CHECK ((mailbox = lower(mailbox)))
);

--
-- Name: TABLE activation_ledger; Type: COMMENT; Schema: identity; Owner: -
--

COMMENT ON TABLE identity.activation_ledger IS 'Codes issued to and wrong codes sent for each mailbox, for the 24 h budgets; kept by mailbox, so neither a re-registration nor a deletion resets them. Pruned after 24 h.';

--
-- Name: COLUMN activation_ledger.mailbox; Type: COMMENT; Schema: identity; Owner: -
--

COMMENT ON COLUMN identity.activation_ledger.mailbox IS 'The mailbox of the address (lower-cased, +tag removed; gmail.com without dots), shared by every address that delivers to it.';

--
-- Name: COLUMN activation_ledger.kind; Type: COMMENT; Schema: identity; Owner: -
--

COMMENT ON COLUMN identity.activation_ledger.kind IS 'code_issued and wrong_code count against the activation budgets, reset_issued and wrong_reset_code against the password-reset budgets.';

--
-- Name: activation_ledger_id_seq; Type: SEQUENCE; Schema: identity; Owner: -
--

ALTER TABLE identity.activation_ledger ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME identity.activation_ledger_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: client_budgets; Type: TABLE; Schema: identity; Owner: -
--

CREATE TABLE identity.client_budgets (
    client text NOT NULL,
    kind text NOT NULL,
    span timestamp with time zone NOT NULL,
    spent integer NOT NULL,
    CONSTRAINT client_budgets_kind_check CHECK ((kind = ANY (ARRAY['code_issued'::text, 'wrong_code'::text]))),
    CONSTRAINT client_budgets_spent_check CHECK ((spent >= 0))
);

--
-- Name: TABLE client_budgets; Type: COMMENT; Schema: identity; Owner: -
--

COMMENT ON TABLE identity.client_budgets IS 'Units of the per-client 24 h budgets (codes issued at the request of, wrong codes sent by, each client), counted per 15-minute span. Pruned once a span is 24 h past its end.';

--
-- Name: email_change_codes; Type: TABLE; Schema: identity; Owner: -
--

CREATE TABLE identity.email_change_codes (
    account_id uuid NOT NULL,
    code text NOT NULL,
    new_email text NOT NULL,
    issued_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    failed_attempts integer DEFAULT 0 NOT NULL,
    CONSTRAINT email_change_codes_code_check CHECK ((code ~ '^[0-9]{8}$'::text)),
    CONSTRAINT email_change_codes_expiry_check CHECK ((expires_at > issued_at)),
    CONSTRAINT email_change_codes_failed_attempts_check CHECK ((failed_attempts >= 0)),
    CONSTRAINT email_change_codes_new_email_length_check CHECK (((char_length(new_email) >= 3) AND (char_length(new_email) <= 254))),
    CONSTRAINT email_change_codes_new_email_lower_check CHECK ((new_email = lower(new_email)))
);

--
-- Name: TABLE email_change_codes; Type: COMMENT; Schema: identity; Owner: -
--

COMMENT ON TABLE identity.email_change_codes IS 'The one valid email-change code of each account that asked to change its address, with that address.';

--
-- Name: password_reset_codes; Type: TABLE; Schema: identity; Owner: -
--

CREATE TABLE identity.password_reset_codes (
    account_id uuid NOT NULL,
    code text NOT NULL,
    issued_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    failed_attempts integer DEFAULT 0 NOT NULL,
    CONSTRAINT password_reset_codes_code_check CHECK ((code ~ '^[0-9]{8}$'::text)),
    CONSTRAINT password_reset_codes_expiry_check CHECK ((expires_at > issued_at)),
    CONSTRAINT password_reset_codes_failed_attempts_check CHECK ((failed_attempts >= 0))
);

--
-- Name: TABLE password_reset_codes; Type: COMMENT; Schema: identity; Owner: -
--

COMMENT ON TABLE identity.password_reset_codes IS 'The one valid password-reset code of each account that asked for one.';

--
-- Name: sessions; Type: TABLE; Schema: identity; Owner: -
--

CREATE TABLE identity.sessions (
    id bigint NOT NULL,
    account_id uuid NOT NULL,
    token_hash bytea NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_used_at timestamp with time zone DEFAULT now() NOT NULL,
    public_id uuid DEFAULT gen_random_uuid() NOT NULL,
    client text DEFAULT ''::text NOT NULL,
    user_agent text DEFAULT ''::text NOT NULL,
    CONSTRAINT sessions_last_used_at_check CHECK ((last_used_at >= created_at)),
    CONSTRAINT sessions_token_hash_length_check CHECK ((octet_length(token_hash) = 32)),
    CONSTRAINT sessions_user_agent_length_check CHECK ((char_length(user_agent) <= 256))
);

--
-- Name: TABLE sessions; Type: COMMENT; Schema: identity; Owner: -
--

COMMENT ON TABLE identity.sessions IS 'Sign-in sessions by the SHA-256 of their Bearer token; ended by idleness, age, sign-out, password change and account deletion. Purged by the maintenance runner once ended.';

--
-- Name: sessions_id_seq; Type: SEQUENCE; Schema: identity; Owner: -
--

ALTER TABLE identity.sessions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME identity.sessions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: sign_in_clients; Type: TABLE; Schema: identity; Owner: -
--

CREATE TABLE identity.sign_in_clients (
    account_id uuid NOT NULL,
    client text NOT NULL,
    signed_in_at timestamp with time zone NOT NULL
);

--
-- Name: TABLE sign_in_clients; Type: COMMENT; Schema: identity; Owner: -
--

COMMENT ON TABLE identity.sign_in_clients IS 'Clients that signed in to each account, exempt for 30 days from the delay of other clients'' failures. Pruned after 30 days.';

--
-- Name: sign_in_failures; Type: TABLE; Schema: identity; Owner: -
--

CREATE TABLE identity.sign_in_failures (
    id bigint NOT NULL,
    email text NOT NULL,
    client text NOT NULL,
    failed_at timestamp with time zone NOT NULL,
    checked boolean DEFAULT false NOT NULL,
    CONSTRAINT sign_in_failures_email_lower_check CHECK ((email = lower(email)))
);

--
-- Name: TABLE sign_in_failures; Type: COMMENT; Schema: identity; Owner: -
--

COMMENT ON TABLE identity.sign_in_failures IS 'Wrong passwords per email of the last 7 days, for the sign-in delay (PASSWORD_FAILURES_BEFORE_DELAY). Pruned after 7 days.';

--
-- Name: sign_in_failures_id_seq; Type: SEQUENCE; Schema: identity; Owner: -
--

ALTER TABLE identity.sign_in_failures ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME identity.sign_in_failures_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: webhook_attempts; Type: TABLE; Schema: identity; Owner: -
--

CREATE TABLE identity.webhook_attempts (
    id bigint NOT NULL,
    endpoint_id uuid NOT NULL,
    event_id uuid NOT NULL,
    attempted_at timestamp with time zone DEFAULT now() NOT NULL,
    status integer,
    duration_ms integer NOT NULL,
    error text DEFAULT ''::text NOT NULL
);

--
-- Name: TABLE webhook_attempts; Type: COMMENT; Schema: identity; Owner: -
--

COMMENT ON TABLE identity.webhook_attempts IS 'Every delivery attempt of an account event to a webhook endpoint: time, status, duration, error.';

--
-- Name: webhook_attempts_id_seq; Type: SEQUENCE; Schema: identity; Owner: -
--

ALTER TABLE identity.webhook_attempts ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME identity.webhook_attempts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: webhook_endpoints; Type: TABLE; Schema: identity; Owner: -
--

CREATE TABLE identity.webhook_endpoints (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    url text NOT NULL,
    events text[] NOT NULL,
    secret text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    disabled_at timestamp with time zone,
    disabled_reason text DEFAULT ''::text NOT NULL
);

--
-- Name: TABLE webhook_endpoints; Type: COMMENT; Schema: identity; Owner: -
--

COMMENT ON TABLE identity.webhook_endpoints IS 'Webhook endpoints: where account events are POSTed, signed with the endpoint''s whsec_ secret (Standard Webhooks).';

--
-- Name: admin_keys; Type: TABLE; Schema: platform; Owner: -
--

CREATE TABLE platform.admin_keys (
    id bigint NOT NULL,
    name text NOT NULL,
    key_hash bytea NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    revoked_at timestamp with time zone,
    last_used_at timestamp with time zone,
    CONSTRAINT admin_keys_key_hash_check CHECK ((octet_length(key_hash) = 32)),
    CONSTRAINT admin_keys_name_check CHECK ((name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'::text))
);

--
-- Name: admin_keys_id_seq; Type: SEQUENCE; Schema: platform; Owner: -
--

ALTER TABLE platform.admin_keys ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME platform.admin_keys_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: outbox_emails; Type: TABLE; Schema: platform; Owner: -
--

CREATE TABLE platform.outbox_emails (
    id bigint NOT NULL,
    recipient text NOT NULL,
    subject text NOT NULL,
    text_body text NOT NULL,
    html_body text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone,
    attempts integer DEFAULT 0 NOT NULL,
    last_error text,
    sent_at timestamp with time zone,
    dropped_at timestamp with time zone,
    message_id uuid DEFAULT gen_random_uuid() NOT NULL,
    failed_at timestamp with time zone,
    CONSTRAINT outbox_emails_attempts_check CHECK ((attempts >= 0)),
    CONSTRAINT outbox_emails_erased_check CHECK (((num_nonnulls(sent_at, dropped_at, failed_at) = 0) OR ((text_body = ''::text) AND (html_body = ''::text)))),
    CONSTRAINT outbox_emails_outcome_check CHECK ((num_nonnulls(sent_at, dropped_at, failed_at) <= 1))
);

--
-- Name: TABLE outbox_emails; Type: COMMENT; Schema: platform; Owner: -
--

COMMENT ON TABLE platform.outbox_emails IS 'Transactional outbox of emails (platform/outbox): written in the transaction that caused the email with a River job that carries its id, sent by that job on any replica. Finished rows are deleted after OUTBOX_RETENTION.';

--
-- Name: COLUMN outbox_emails.text_body; Type: COMMENT; Schema: platform; Owner: -
--

COMMENT ON COLUMN platform.outbox_emails.text_body IS 'Rendered text part; erased (empty) once the email is sent, dropped or failed, as it may hold a code.';

--
-- Name: COLUMN outbox_emails.html_body; Type: COMMENT; Schema: platform; Owner: -
--

COMMENT ON COLUMN platform.outbox_emails.html_body IS 'Rendered HTML part; erased like text_body.';

--
-- Name: COLUMN outbox_emails.expires_at; Type: COMMENT; Schema: platform; Owner: -
--

COMMENT ON COLUMN platform.outbox_emails.expires_at IS 'After it, an unsent email is dropped, not sent (its code is no longer valid); NULL: never.';

--
-- Name: COLUMN outbox_emails.attempts; Type: COMMENT; Schema: platform; Owner: -
--

COMMENT ON COLUMN platform.outbox_emails.attempts IS 'Delivery attempts made, as of the last outcome recorded (the River job''s attempt).';

--
-- Name: COLUMN outbox_emails.last_error; Type: COMMENT; Schema: platform; Owner: -
--

COMMENT ON COLUMN platform.outbox_emails.last_error IS 'Why the last attempt failed; cleared once sent.';

--
-- Name: COLUMN outbox_emails.sent_at; Type: COMMENT; Schema: platform; Owner: -
--

COMMENT ON COLUMN platform.outbox_emails.sent_at IS 'The SMTP server accepted the data. At most one of sent_at, dropped_at, failed_at is set.';

--
-- Name: COLUMN outbox_emails.dropped_at; Type: COMMENT; Schema: platform; Owner: -
--

COMMENT ON COLUMN platform.outbox_emails.dropped_at IS 'Given up: expired before it could be sent.';

--
-- Name: COLUMN outbox_emails.message_id; Type: COMMENT; Schema: platform; Owner: -
--

COMMENT ON COLUMN platform.outbox_emails.message_id IS 'The Message-ID of every attempt to send this email (<uuid@MAIL_FROM domain>).';

--
-- Name: COLUMN outbox_emails.failed_at; Type: COMMENT; Schema: platform; Owner: -
--

COMMENT ON COLUMN platform.outbox_emails.failed_at IS 'Refused for good by a permanent (5xx) reply; last_error keeps the reply.';

--
-- Name: outbox_emails_id_seq; Type: SEQUENCE; Schema: platform; Owner: -
--

ALTER TABLE platform.outbox_emails ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME platform.outbox_emails_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    version character varying NOT NULL
);

--
-- Name: river_job; Type: TABLE; Schema: river; Owner: -
--

CREATE TABLE river.river_job (
    id bigint NOT NULL,
    state river.river_job_state DEFAULT 'available'::river.river_job_state NOT NULL,
    attempt smallint DEFAULT 0 NOT NULL,
    max_attempts smallint DEFAULT 25 NOT NULL,
    attempted_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    finalized_at timestamp with time zone,
    scheduled_at timestamp with time zone DEFAULT now() NOT NULL,
    priority smallint DEFAULT 1 NOT NULL,
    args jsonb NOT NULL,
    attempted_by text[],
    errors jsonb[],
    kind text NOT NULL,
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    queue text DEFAULT 'default'::text NOT NULL,
    tags character varying(255)[] DEFAULT '{}'::character varying[] NOT NULL,
    unique_key bytea,
    unique_states bit(8),
    CONSTRAINT finalized_or_finalized_at_null CHECK ((((finalized_at IS NULL) AND (state <> ALL (ARRAY['cancelled'::river.river_job_state, 'completed'::river.river_job_state, 'discarded'::river.river_job_state]))) OR ((finalized_at IS NOT NULL) AND (state = ANY (ARRAY['cancelled'::river.river_job_state, 'completed'::river.river_job_state, 'discarded'::river.river_job_state]))))),
    CONSTRAINT kind_length CHECK (((char_length(kind) > 0) AND (char_length(kind) < 128))),
    CONSTRAINT max_attempts_is_positive CHECK ((max_attempts > 0)),
    CONSTRAINT priority_in_range CHECK (((priority >= 1) AND (priority <= 4))),
    CONSTRAINT queue_length CHECK (((char_length(queue) > 0) AND (char_length(queue) < 128)))
);

--
-- Name: river_job_id_seq; Type: SEQUENCE; Schema: river; Owner: -
--

CREATE SEQUENCE river.river_job_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: river_job_id_seq; Type: SEQUENCE OWNED BY; Schema: river; Owner: -
--

ALTER SEQUENCE river.river_job_id_seq OWNED BY river.river_job.id;

--
-- Name: river_leader; Type: TABLE; Schema: river; Owner: -
--

CREATE UNLOGGED TABLE river.river_leader (
    elected_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    leader_id text NOT NULL,
    name text DEFAULT 'default'::text NOT NULL,
    CONSTRAINT leader_id_length CHECK (((char_length(leader_id) > 0) AND (char_length(leader_id) < 128))),
    CONSTRAINT name_length CHECK ((name = 'default'::text))
);

--
-- Name: river_migration; Type: TABLE; Schema: river; Owner: -
--

CREATE TABLE river.river_migration (
    line text NOT NULL,
    version bigint NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT line_length CHECK (((char_length(line) > 0) AND (char_length(line) < 128))),
    CONSTRAINT version_gte_1 CHECK ((version >= 1))
);

--
-- Name: river_notification; Type: TABLE; Schema: river; Owner: -
--

CREATE TABLE river.river_notification (
    id bigint NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    payload text NOT NULL,
    topic text NOT NULL,
    CONSTRAINT topic_length CHECK (((length(topic) > 0) AND (length(topic) < 128)))
);

--
-- Name: river_notification_id_seq; Type: SEQUENCE; Schema: river; Owner: -
--

CREATE SEQUENCE river.river_notification_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: river_notification_id_seq; Type: SEQUENCE OWNED BY; Schema: river; Owner: -
--

ALTER SEQUENCE river.river_notification_id_seq OWNED BY river.river_notification.id;

--
-- Name: river_queue; Type: TABLE; Schema: river; Owner: -
--

CREATE TABLE river.river_queue (
    name text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    paused_at timestamp with time zone,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL
);

--
-- Name: river_job id; Type: DEFAULT; Schema: river; Owner: -
--

ALTER TABLE ONLY river.river_job ALTER COLUMN id SET DEFAULT nextval('river.river_job_id_seq'::regclass);

--
-- Name: river_notification id; Type: DEFAULT; Schema: river; Owner: -
--

ALTER TABLE ONLY river.river_notification ALTER COLUMN id SET DEFAULT nextval('river.river_notification_id_seq'::regclass);

--
-- Name: account_events account_events_id_key; Type: CONSTRAINT; Schema: identity; Owner: -
--

ALTER TABLE ONLY identity.account_events
    ADD CONSTRAINT account_events_id_key UNIQUE (id);

--
-- Name: account_events account_events_pkey; Type: CONSTRAINT; Schema: identity; Owner: -
--

ALTER TABLE ONLY identity.account_events
    ADD CONSTRAINT account_events_pkey PRIMARY KEY (seq);

--
-- Name: accounts accounts_email_key; Type: CONSTRAINT; Schema: identity; Owner: -
--

ALTER TABLE ONLY identity.accounts
    ADD CONSTRAINT accounts_email_key UNIQUE (email);

--
-- Name: accounts accounts_pkey; Type: CONSTRAINT; Schema: identity; Owner: -
--

ALTER TABLE ONLY identity.accounts
    ADD CONSTRAINT accounts_pkey PRIMARY KEY (id);

--
-- Name: activation_codes activation_codes_pkey; Type: CONSTRAINT; Schema: identity; Owner: -
--

ALTER TABLE ONLY identity.activation_codes
    ADD CONSTRAINT activation_codes_pkey PRIMARY KEY (account_id);

--
-- Name: activation_ledger activation_ledger_pkey; Type: CONSTRAINT; Schema: identity; Owner: -
--

ALTER TABLE ONLY identity.activation_ledger
    ADD CONSTRAINT activation_ledger_pkey PRIMARY KEY (id);

--
-- Name: client_budgets client_budgets_pkey; Type: CONSTRAINT; Schema: identity; Owner: -
--

ALTER TABLE ONLY identity.client_budgets
    ADD CONSTRAINT client_budgets_pkey PRIMARY KEY (client, kind, span);

--
-- Name: email_change_codes email_change_codes_pkey; Type: CONSTRAINT; Schema: identity; Owner: -
--

ALTER TABLE ONLY identity.email_change_codes
    ADD CONSTRAINT email_change_codes_pkey PRIMARY KEY (account_id);

--
-- Name: password_reset_codes password_reset_codes_pkey; Type: CONSTRAINT; Schema: identity; Owner: -
--

ALTER TABLE ONLY identity.password_reset_codes
    ADD CONSTRAINT password_reset_codes_pkey PRIMARY KEY (account_id);

--
-- Name: sessions sessions_pkey; Type: CONSTRAINT; Schema: identity; Owner: -
--

ALTER TABLE ONLY identity.sessions
    ADD CONSTRAINT sessions_pkey PRIMARY KEY (id);

--
-- Name: sessions sessions_public_id_key; Type: CONSTRAINT; Schema: identity; Owner: -
--

ALTER TABLE ONLY identity.sessions
    ADD CONSTRAINT sessions_public_id_key UNIQUE (public_id);

--
-- Name: sessions sessions_token_hash_key; Type: CONSTRAINT; Schema: identity; Owner: -
--

ALTER TABLE ONLY identity.sessions
    ADD CONSTRAINT sessions_token_hash_key UNIQUE (token_hash);

--
-- Name: sign_in_clients sign_in_clients_pkey; Type: CONSTRAINT; Schema: identity; Owner: -
--

ALTER TABLE ONLY identity.sign_in_clients
    ADD CONSTRAINT sign_in_clients_pkey PRIMARY KEY (account_id, client);

--
-- Name: sign_in_failures sign_in_failures_pkey; Type: CONSTRAINT; Schema: identity; Owner: -
--

ALTER TABLE ONLY identity.sign_in_failures
    ADD CONSTRAINT sign_in_failures_pkey PRIMARY KEY (id);

--
-- Name: webhook_attempts webhook_attempts_pkey; Type: CONSTRAINT; Schema: identity; Owner: -
--

ALTER TABLE ONLY identity.webhook_attempts
    ADD CONSTRAINT webhook_attempts_pkey PRIMARY KEY (id);

--
-- Name: webhook_endpoints webhook_endpoints_pkey; Type: CONSTRAINT; Schema: identity; Owner: -
--

ALTER TABLE ONLY identity.webhook_endpoints
    ADD CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (id);

--
-- Name: admin_keys admin_keys_key_hash_key; Type: CONSTRAINT; Schema: platform; Owner: -
--

ALTER TABLE ONLY platform.admin_keys
    ADD CONSTRAINT admin_keys_key_hash_key UNIQUE (key_hash);

--
-- Name: admin_keys admin_keys_name_key; Type: CONSTRAINT; Schema: platform; Owner: -
--

ALTER TABLE ONLY platform.admin_keys
    ADD CONSTRAINT admin_keys_name_key UNIQUE (name);

--
-- Name: admin_keys admin_keys_pkey; Type: CONSTRAINT; Schema: platform; Owner: -
--

ALTER TABLE ONLY platform.admin_keys
    ADD CONSTRAINT admin_keys_pkey PRIMARY KEY (id);

--
-- Name: outbox_emails outbox_emails_pkey; Type: CONSTRAINT; Schema: platform; Owner: -
--

ALTER TABLE ONLY platform.outbox_emails
    ADD CONSTRAINT outbox_emails_pkey PRIMARY KEY (id);

--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

--
-- Name: river_job river_job_pkey; Type: CONSTRAINT; Schema: river; Owner: -
--

ALTER TABLE ONLY river.river_job
    ADD CONSTRAINT river_job_pkey PRIMARY KEY (id);

--
-- Name: river_leader river_leader_pkey; Type: CONSTRAINT; Schema: river; Owner: -
--

ALTER TABLE ONLY river.river_leader
    ADD CONSTRAINT river_leader_pkey PRIMARY KEY (name);

--
-- Name: river_migration river_migration_pkey1; Type: CONSTRAINT; Schema: river; Owner: -
--

ALTER TABLE ONLY river.river_migration
    ADD CONSTRAINT river_migration_pkey1 PRIMARY KEY (line, version);

--
-- Name: river_notification river_notification_pkey; Type: CONSTRAINT; Schema: river; Owner: -
--

ALTER TABLE ONLY river.river_notification
    ADD CONSTRAINT river_notification_pkey PRIMARY KEY (id);

--
-- Name: river_queue river_queue_pkey; Type: CONSTRAINT; Schema: river; Owner: -
--

ALTER TABLE ONLY river.river_queue
    ADD CONSTRAINT river_queue_pkey PRIMARY KEY (name);

--
-- Name: account_events_account_id_seq_idx; Type: INDEX; Schema: identity; Owner: -
--

CREATE INDEX account_events_account_id_seq_idx ON identity.account_events USING btree (account_id, seq DESC);

--
-- Name: account_events_occurred_at_idx; Type: INDEX; Schema: identity; Owner: -
--

CREATE INDEX account_events_occurred_at_idx ON identity.account_events USING btree (occurred_at);

--
-- Name: account_events_type_occurred_at_idx; Type: INDEX; Schema: identity; Owner: -
--

CREATE INDEX account_events_type_occurred_at_idx ON identity.account_events USING btree (type, occurred_at);

--
-- Name: accounts_disabled_idx; Type: INDEX; Schema: identity; Owner: -
--

CREATE INDEX accounts_disabled_idx ON identity.accounts USING btree (id) WHERE (disabled_at IS NOT NULL);

--
-- Name: accounts_email_prefix_idx; Type: INDEX; Schema: identity; Owner: -
--

CREATE INDEX accounts_email_prefix_idx ON identity.accounts USING btree (lower(email) text_pattern_ops);

--
-- Name: activation_codes_issued_at_idx; Type: INDEX; Schema: identity; Owner: -
--

CREATE INDEX activation_codes_issued_at_idx ON identity.activation_codes USING btree (issued_at);

--
-- Name: activation_ledger_mailbox_occurred_at_idx; Type: INDEX; Schema: identity; Owner: -
--

CREATE INDEX activation_ledger_mailbox_occurred_at_idx ON identity.activation_ledger USING btree (mailbox, occurred_at);

--
-- Name: activation_ledger_occurred_at_idx; Type: INDEX; Schema: identity; Owner: -
--

CREATE INDEX activation_ledger_occurred_at_idx ON identity.activation_ledger USING btree (occurred_at);

--
-- Name: client_budgets_span_idx; Type: INDEX; Schema: identity; Owner: -
--

CREATE INDEX client_budgets_span_idx ON identity.client_budgets USING btree (span);

--
-- Name: email_change_codes_expires_at_idx; Type: INDEX; Schema: identity; Owner: -
--

CREATE INDEX email_change_codes_expires_at_idx ON identity.email_change_codes USING btree (expires_at);

--
-- Name: password_reset_codes_expires_at_idx; Type: INDEX; Schema: identity; Owner: -
--

CREATE INDEX password_reset_codes_expires_at_idx ON identity.password_reset_codes USING btree (expires_at);

--
-- Name: sessions_account_id_last_used_at_idx; Type: INDEX; Schema: identity; Owner: -
--

CREATE INDEX sessions_account_id_last_used_at_idx ON identity.sessions USING btree (account_id, last_used_at);

--
-- Name: sessions_created_at_idx; Type: INDEX; Schema: identity; Owner: -
--

CREATE INDEX sessions_created_at_idx ON identity.sessions USING btree (created_at);

--
-- Name: sessions_last_used_at_idx; Type: INDEX; Schema: identity; Owner: -
--

CREATE INDEX sessions_last_used_at_idx ON identity.sessions USING btree (last_used_at);

--
-- Name: sign_in_clients_signed_in_at_idx; Type: INDEX; Schema: identity; Owner: -
--

CREATE INDEX sign_in_clients_signed_in_at_idx ON identity.sign_in_clients USING btree (signed_in_at);

--
-- Name: sign_in_failures_email_failed_at_idx; Type: INDEX; Schema: identity; Owner: -
--

CREATE INDEX sign_in_failures_email_failed_at_idx ON identity.sign_in_failures USING btree (email, failed_at);

--
-- Name: sign_in_failures_failed_at_idx; Type: INDEX; Schema: identity; Owner: -
--

CREATE INDEX sign_in_failures_failed_at_idx ON identity.sign_in_failures USING btree (failed_at);

--
-- Name: webhook_attempts_attempted_at_idx; Type: INDEX; Schema: identity; Owner: -
--

CREATE INDEX webhook_attempts_attempted_at_idx ON identity.webhook_attempts USING btree (attempted_at);

--
-- Name: webhook_attempts_endpoint_id_attempted_at_idx; Type: INDEX; Schema: identity; Owner: -
--

CREATE INDEX webhook_attempts_endpoint_id_attempted_at_idx ON identity.webhook_attempts USING btree (endpoint_id, attempted_at DESC, id DESC);

--
-- Name: webhook_endpoints_events_idx; Type: INDEX; Schema: identity; Owner: -
--

CREATE INDEX webhook_endpoints_events_idx ON identity.webhook_endpoints USING gin (events) WHERE (disabled_at IS NULL);

--
-- Name: outbox_emails_finished_idx; Type: INDEX; Schema: platform; Owner: -
--

CREATE INDEX outbox_emails_finished_idx ON platform.outbox_emails USING btree (COALESCE(sent_at, dropped_at, failed_at)) WHERE ((sent_at IS NOT NULL) OR (dropped_at IS NOT NULL) OR (failed_at IS NOT NULL));

--
-- Name: INDEX outbox_emails_finished_idx; Type: COMMENT; Schema: platform; Owner: -
--

COMMENT ON INDEX platform.outbox_emails_finished_idx IS 'The finished emails by when they finished: DeleteFinishedEmails (OUTBOX_RETENTION).';

--
-- Name: outbox_emails_unfinished_idx; Type: INDEX; Schema: platform; Owner: -
--

CREATE INDEX outbox_emails_unfinished_idx ON platform.outbox_emails USING btree (created_at) WHERE ((sent_at IS NULL) AND (dropped_at IS NULL) AND (failed_at IS NULL));

--
-- Name: INDEX outbox_emails_unfinished_idx; Type: COMMENT; Schema: platform; Owner: -
--

COMMENT ON INDEX platform.outbox_emails_unfinished_idx IS 'The unfinished emails by age: OutboxBacklog and DeleteUnsentEmails read it; finished rows leave it, so it stays small.';

--
-- Name: river_job_args_index; Type: INDEX; Schema: river; Owner: -
--

CREATE INDEX river_job_args_index ON river.river_job USING gin (args);

--
-- Name: river_job_kind; Type: INDEX; Schema: river; Owner: -
--

CREATE INDEX river_job_kind ON river.river_job USING btree (kind);

--
-- Name: river_job_metadata_index; Type: INDEX; Schema: river; Owner: -
--

CREATE INDEX river_job_metadata_index ON river.river_job USING gin (metadata);

--
-- Name: river_job_prioritized_fetching_index; Type: INDEX; Schema: river; Owner: -
--

CREATE INDEX river_job_prioritized_fetching_index ON river.river_job USING btree (state, queue, priority, scheduled_at, id);

--
-- Name: river_job_state_and_finalized_at_index; Type: INDEX; Schema: river; Owner: -
--

CREATE INDEX river_job_state_and_finalized_at_index ON river.river_job USING btree (state, finalized_at) WHERE (finalized_at IS NOT NULL);

--
-- Name: river_job_unique_idx; Type: INDEX; Schema: river; Owner: -
--

CREATE UNIQUE INDEX river_job_unique_idx ON river.river_job USING btree (unique_key) WHERE ((unique_key IS NOT NULL) AND (unique_states IS NOT NULL) AND river.river_job_state_in_bitmask(unique_states, state));

--
-- Name: river_notification_created_at_idx; Type: INDEX; Schema: river; Owner: -
--

CREATE INDEX river_notification_created_at_idx ON river.river_notification USING btree (created_at);

--
-- Name: river_notification_topic_id_idx; Type: INDEX; Schema: river; Owner: -
--

CREATE INDEX river_notification_topic_id_idx ON river.river_notification USING btree (topic, id);

--
-- Name: activation_codes activation_codes_account_id_fkey; Type: FK CONSTRAINT; Schema: identity; Owner: -
--

ALTER TABLE ONLY identity.activation_codes
    ADD CONSTRAINT activation_codes_account_id_fkey FOREIGN KEY (account_id) REFERENCES identity.accounts(id) ON DELETE CASCADE;

--
-- Name: email_change_codes email_change_codes_account_id_fkey; Type: FK CONSTRAINT; Schema: identity; Owner: -
--

ALTER TABLE ONLY identity.email_change_codes
    ADD CONSTRAINT email_change_codes_account_id_fkey FOREIGN KEY (account_id) REFERENCES identity.accounts(id) ON DELETE CASCADE;

--
-- Name: password_reset_codes password_reset_codes_account_id_fkey; Type: FK CONSTRAINT; Schema: identity; Owner: -
--

ALTER TABLE ONLY identity.password_reset_codes
    ADD CONSTRAINT password_reset_codes_account_id_fkey FOREIGN KEY (account_id) REFERENCES identity.accounts(id) ON DELETE CASCADE;

--
-- Name: sessions sessions_account_id_fkey; Type: FK CONSTRAINT; Schema: identity; Owner: -
--

ALTER TABLE ONLY identity.sessions
    ADD CONSTRAINT sessions_account_id_fkey FOREIGN KEY (account_id) REFERENCES identity.accounts(id) ON DELETE CASCADE;

--
-- Name: sign_in_clients sign_in_clients_account_id_fkey; Type: FK CONSTRAINT; Schema: identity; Owner: -
--

ALTER TABLE ONLY identity.sign_in_clients
    ADD CONSTRAINT sign_in_clients_account_id_fkey FOREIGN KEY (account_id) REFERENCES identity.accounts(id) ON DELETE CASCADE;

--
-- Name: webhook_attempts webhook_attempts_endpoint_id_fkey; Type: FK CONSTRAINT; Schema: identity; Owner: -
--

ALTER TABLE ONLY identity.webhook_attempts
    ADD CONSTRAINT webhook_attempts_endpoint_id_fkey FOREIGN KEY (endpoint_id) REFERENCES identity.webhook_endpoints(id) ON DELETE CASCADE;

--
-- PostgreSQL database dump complete
--

--
-- Dbmate schema migrations
--

INSERT INTO public.schema_migrations (version) VALUES
    ('20261125000001'),
    ('20261125000002'),
    ('20261125000003'),
    ('20261126010000'),
    ('20261126010100'),
    ('20261126030000'),
    ('20261126040000'),
    ('20261126050000'),
    ('20261126070000'),
    ('20261202150000'),
    ('20261203100000'),
    ('20261203110000'),
    ('20261207100000'),
    ('20261207100001'),
    ('20261207100002'),
    ('20261207100003'),
    ('20261207100004'),
    ('20261207100005'),
    ('20261207100006'),
    ('20261207100007'),
    ('20261207100008'),
    ('20261207110000'),
    ('20261207120000'),
    ('20261207130000'),
    ('20261208100000'),
    ('20261209100000'),
    ('20261210100000'),
    ('20261211100000'),
    ('20261212100000');
