-- A list or search filtered by correspondent or type (with a date range, a field…) in the
-- default order, newest added first (#22): the documents of that correspondent or type newest
-- first, instead of every document newest first with most of them filtered away.
CREATE INDEX documents_owner_correspondent_created ON documents(owner_id, correspondent_id, created_at) WHERE correspondent_id IS NOT NULL;
CREATE INDEX documents_owner_type_created ON documents(owner_id, document_type_id, created_at) WHERE document_type_id IS NOT NULL;
