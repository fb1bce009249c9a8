-- Listing a folder's or a user's documents by title (the default sort of the UI) walked the
-- whole folder/library and sorted it for every page: the queries order by lower(title), which no
-- index provided. These indexes hand the rows over in the queries' order.
DROP INDEX documents_folder;
CREATE INDEX documents_folder ON documents(folder_id, trashed_at, lower(title), id);
CREATE INDEX documents_owner_title ON documents(owner_id, trashed_at, lower(title), id);
