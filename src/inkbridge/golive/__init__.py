"""``inkbridge golive``: the go-live checklist run against a deployment through its public HTTP
surface, with a ``golive`` token, in a test namespace it creates and erases afterwards."""
