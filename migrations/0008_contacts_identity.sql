-- Contacts you can trust (issue 19), part 1: identity.
-- An identifier links one person across the inboxes of an account only when it was proven: an
-- identifier_hash (HMAC-SHA256 of the identifier with the inbox's identity secret) or a user token of
-- the account. identifier_scope says where the identifier is unique: 'account' when proven, else the id
-- of the one inbox whose integrator claimed it (an unverified identifier stays scoped to its inbox).
ALTER TABLE contacts ADD COLUMN identifier_scope TEXT;
-- Existing rows: a contact already reached through several inboxes keeps its account-wide identifier
-- (the link exists); any other identifier becomes scoped to the one inbox that set it.
UPDATE contacts SET identifier_scope = CASE
    WHEN (SELECT count(*) FROM contact_inboxes ci WHERE ci.contact_id = contacts.id) = 1
      THEN (SELECT ci.inbox_id FROM contact_inboxes ci WHERE ci.contact_id = contacts.id)
    ELSE 'account' END
  WHERE identifier IS NOT NULL;
DROP INDEX contacts_account_identifier;
CREATE UNIQUE INDEX contacts_identifier ON contacts(account_id, identifier_scope, identifier) WHERE identifier IS NOT NULL;

-- Chatwoot's hmac_token and hmac_mandatory: the secret integrators sign identifiers with, and whether
-- an identifier without a valid identifier_hash is refused. Existing inboxes get a random secret.
ALTER TABLE inboxes ADD COLUMN identity_secret TEXT NOT NULL DEFAULT '';
UPDATE inboxes SET identity_secret = lower(hex(randomblob(32))) WHERE identity_secret = '';
ALTER TABLE inboxes ADD COLUMN hmac_mandatory INTEGER NOT NULL DEFAULT 0;
