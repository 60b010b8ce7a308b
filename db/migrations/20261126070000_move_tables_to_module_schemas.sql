-- migrate:up

-- One schema per owner, so ownership shows in every name a DBA reads: identity's tables
-- in schema identity, the platform's (the email outbox) in schema platform. A module's
-- queries touch only its own schema (a test of db/ checks it); it refers to another
-- module's rows by id, never by a foreign key across schemas. ALTER TABLE … SET SCHEMA
-- moves each table with its rows, constraints, indexes and identity sequence: existing
-- data survives, and no constraint or index changes name.

CREATE SCHEMA identity;
COMMENT ON SCHEMA identity IS 'The identity module (modules/identity): accounts, their activation codes, the per-address budgets.';
CREATE SCHEMA platform;
COMMENT ON SCHEMA platform IS 'What the platform (platform/) keeps for every module: the email outbox.';

ALTER TABLE public.accounts SET SCHEMA identity;
ALTER TABLE public.activation_codes SET SCHEMA identity;
ALTER TABLE public.activation_ledger SET SCHEMA identity;
ALTER TABLE public.outbox_emails SET SCHEMA platform;

COMMENT ON TABLE identity.accounts IS 'Registered users; pending until the emailed activation code is confirmed. Other modules refer to an account by its id (no foreign key across schemas).';
COMMENT ON COLUMN identity.accounts.email IS 'Lower-cased address, unique (accounts_email_key): the constraint decides concurrent registrations.';
COMMENT ON COLUMN identity.accounts.password_hash IS 'argon2id hash in PHC form (parameters included); never the password.';
COMMENT ON COLUMN identity.accounts.status IS 'pending until activated, then active; activated_at is set exactly when active.';
COMMENT ON COLUMN identity.accounts.created_at IS 'When the account was registered, or taken over by a re-registration of its pending address.';

COMMENT ON TABLE identity.activation_codes IS 'The one valid activation code of each pending account; deleted on activation. Stored in clear: 10^4 values make a hash useless.';
COMMENT ON COLUMN identity.activation_codes.code IS 'Four ASCII digits, drawn with a cryptographic random source.';
COMMENT ON COLUMN identity.activation_codes.expires_at IS 'issued_at + ACTIVATION_CODE_TTL, judged on the database clock.';
COMMENT ON COLUMN identity.activation_codes.failed_attempts IS 'Wrong guesses against this code; at ACTIVATION_CODE_MAX_ATTEMPTS the code is locked.';

COMMENT ON TABLE identity.activation_ledger IS 'Codes issued to and wrong codes sent for each email address, for the 24 h budgets; kept by address, so a re-registration does not reset them. Pruned after 24 h.';
COMMENT ON COLUMN identity.activation_ledger.kind IS 'code_issued (ACTIVATION_CODES_PER_DAY) or wrong_code (ACTIVATION_GUESSES_PER_DAY).';

COMMENT ON TABLE platform.outbox_emails IS 'Transactional outbox of emails (platform/outbox): written in the transaction that caused the email, sent by the dispatcher of any replica. Finished rows are deleted after OUTBOX_RETENTION.';
COMMENT ON COLUMN platform.outbox_emails.text_body IS 'Rendered text part; erased (empty) once the email is sent, dropped or failed, as it may hold a code.';
COMMENT ON COLUMN platform.outbox_emails.html_body IS 'Rendered HTML part; erased like text_body.';
COMMENT ON COLUMN platform.outbox_emails.expires_at IS 'After it, an unsent email is dropped, not sent (its code is no longer valid); NULL: never.';
COMMENT ON COLUMN platform.outbox_emails.available_at IS 'When the email may next be claimed: now for a new one, later after a failed attempt (backoff) or while a claim''s lease runs.';
COMMENT ON COLUMN platform.outbox_emails.lease_token IS 'Token of the dispatcher that claimed the email; only it may record the outcome.';
COMMENT ON COLUMN platform.outbox_emails.message_id IS 'The Message-ID of every attempt to send this email (<uuid@MAIL_FROM domain>).';
COMMENT ON COLUMN platform.outbox_emails.sent_at IS 'The SMTP server accepted the data. At most one of sent_at, dropped_at, failed_at is set.';
COMMENT ON COLUMN platform.outbox_emails.dropped_at IS 'Given up: expired before it could be sent.';
COMMENT ON COLUMN platform.outbox_emails.failed_at IS 'Refused for good by a permanent (5xx) reply; last_error keeps the reply.';
COMMENT ON COLUMN platform.outbox_emails.trace_parent IS 'W3C traceparent of the request that queued the email; the delivery span links to it.';
COMMENT ON INDEX platform.outbox_emails_due_idx IS 'The unfinished emails by when they are due: ClaimDueEmails, DropExpiredEmails, MillisUntilNextEmailDue and OutboxBacklog read it; finished rows leave it, so it stays small.';
COMMENT ON INDEX platform.outbox_emails_finished_idx IS 'The finished emails by when they finished: DeleteFinishedEmails (OUTBOX_RETENTION).';

-- migrate:down

COMMENT ON TABLE platform.outbox_emails IS 'Transactional outbox of emails; see platform/outbox.';
COMMENT ON TABLE identity.activation_ledger IS 'Codes issued to and wrong codes sent for each email address, for the 24 h budgets.';
COMMENT ON TABLE identity.activation_codes IS 'The one valid activation code of each pending account.';
COMMENT ON TABLE identity.accounts IS 'Registered users; pending until the emailed activation code is confirmed.';
COMMENT ON COLUMN identity.accounts.email IS NULL;
COMMENT ON COLUMN identity.accounts.password_hash IS NULL;
COMMENT ON COLUMN identity.accounts.status IS NULL;
COMMENT ON COLUMN identity.accounts.created_at IS NULL;
COMMENT ON COLUMN identity.activation_codes.code IS NULL;
COMMENT ON COLUMN identity.activation_codes.expires_at IS NULL;
COMMENT ON COLUMN identity.activation_codes.failed_attempts IS NULL;
COMMENT ON COLUMN identity.activation_ledger.kind IS NULL;
COMMENT ON COLUMN platform.outbox_emails.text_body IS NULL;
COMMENT ON COLUMN platform.outbox_emails.html_body IS NULL;
COMMENT ON COLUMN platform.outbox_emails.expires_at IS NULL;
COMMENT ON COLUMN platform.outbox_emails.available_at IS NULL;
COMMENT ON COLUMN platform.outbox_emails.lease_token IS NULL;
COMMENT ON COLUMN platform.outbox_emails.message_id IS NULL;
COMMENT ON COLUMN platform.outbox_emails.sent_at IS NULL;
COMMENT ON COLUMN platform.outbox_emails.dropped_at IS NULL;
COMMENT ON COLUMN platform.outbox_emails.failed_at IS NULL;
COMMENT ON COLUMN platform.outbox_emails.trace_parent IS NULL;
COMMENT ON INDEX platform.outbox_emails_due_idx IS NULL;
COMMENT ON INDEX platform.outbox_emails_finished_idx IS NULL;

ALTER TABLE platform.outbox_emails SET SCHEMA public;
ALTER TABLE identity.activation_ledger SET SCHEMA public;
ALTER TABLE identity.activation_codes SET SCHEMA public;
ALTER TABLE identity.accounts SET SCHEMA public;

DROP SCHEMA platform;
DROP SCHEMA identity;
