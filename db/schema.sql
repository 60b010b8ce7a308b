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

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: accounts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.accounts (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    email text NOT NULL,
    password_hash text NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    activated_at timestamp with time zone,
    CONSTRAINT accounts_activated_at_check CHECK (((status = 'active'::text) = (activated_at IS NOT NULL))),
    CONSTRAINT accounts_email_length_check CHECK (((char_length(email) >= 3) AND (char_length(email) <= 254))),
    CONSTRAINT accounts_email_lower_check CHECK ((email = lower(email))),
    CONSTRAINT accounts_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'active'::text])))
);

--
-- Name: TABLE accounts; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.accounts IS 'Registered users; pending until the emailed activation code is confirmed.';

--
-- Name: activation_codes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.activation_codes (
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
-- Name: TABLE activation_codes; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.activation_codes IS 'The one valid activation code of each pending account.';

--
-- Name: activation_ledger; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.activation_ledger (
    id bigint NOT NULL,
    email text NOT NULL,
    kind text NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    CONSTRAINT activation_ledger_email_lower_check CHECK ((email = lower(email))),
    CONSTRAINT activation_ledger_kind_check CHECK ((kind = ANY (ARRAY['code_issued'::text, 'wrong_code'::text])))
);

--
-- Name: TABLE activation_ledger; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.activation_ledger IS 'Codes issued to and wrong codes sent for each email address, for the 24 h budgets.';

--
-- Name: activation_ledger_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.activation_ledger ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.activation_ledger_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: outbox_emails; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.outbox_emails (
    id bigint NOT NULL,
    recipient text NOT NULL,
    subject text NOT NULL,
    text_body text NOT NULL,
    html_body text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone,
    available_at timestamp with time zone DEFAULT now() NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    lease_token uuid,
    last_error text,
    sent_at timestamp with time zone,
    dropped_at timestamp with time zone,
    message_id uuid DEFAULT gen_random_uuid() NOT NULL,
    failed_at timestamp with time zone,
    trace_parent text,
    CONSTRAINT outbox_emails_attempts_check CHECK ((attempts >= 0)),
    CONSTRAINT outbox_emails_erased_check CHECK (((num_nonnulls(sent_at, dropped_at, failed_at) = 0) OR ((text_body = ''::text) AND (html_body = ''::text)))),
    CONSTRAINT outbox_emails_outcome_check CHECK ((num_nonnulls(sent_at, dropped_at, failed_at) <= 1))
);

--
-- Name: TABLE outbox_emails; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.outbox_emails IS 'Transactional outbox of emails; see platform/outbox.';

--
-- Name: outbox_emails_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.outbox_emails ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.outbox_emails_id_seq
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
-- Name: accounts accounts_email_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.accounts
    ADD CONSTRAINT accounts_email_key UNIQUE (email);

--
-- Name: accounts accounts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.accounts
    ADD CONSTRAINT accounts_pkey PRIMARY KEY (id);

--
-- Name: activation_codes activation_codes_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.activation_codes
    ADD CONSTRAINT activation_codes_pkey PRIMARY KEY (account_id);

--
-- Name: activation_ledger activation_ledger_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.activation_ledger
    ADD CONSTRAINT activation_ledger_pkey PRIMARY KEY (id);

--
-- Name: outbox_emails outbox_emails_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.outbox_emails
    ADD CONSTRAINT outbox_emails_pkey PRIMARY KEY (id);

--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

--
-- Name: activation_codes_issued_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX activation_codes_issued_at_idx ON public.activation_codes USING btree (issued_at);

--
-- Name: activation_ledger_email_occurred_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX activation_ledger_email_occurred_at_idx ON public.activation_ledger USING btree (email, occurred_at);

--
-- Name: activation_ledger_occurred_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX activation_ledger_occurred_at_idx ON public.activation_ledger USING btree (occurred_at);

--
-- Name: outbox_emails_due_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX outbox_emails_due_idx ON public.outbox_emails USING btree (available_at) WHERE ((sent_at IS NULL) AND (dropped_at IS NULL) AND (failed_at IS NULL));

--
-- Name: outbox_emails_finished_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX outbox_emails_finished_idx ON public.outbox_emails USING btree (COALESCE(sent_at, dropped_at, failed_at)) WHERE ((sent_at IS NOT NULL) OR (dropped_at IS NOT NULL) OR (failed_at IS NOT NULL));

--
-- Name: activation_codes activation_codes_account_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.activation_codes
    ADD CONSTRAINT activation_codes_account_id_fkey FOREIGN KEY (account_id) REFERENCES public.accounts(id) ON DELETE CASCADE;

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
    ('20261126050000');
