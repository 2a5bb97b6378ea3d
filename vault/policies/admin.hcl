# admin: operators (userpass + TOTP). Everything, including sudo paths, destroy/purge and policy changes.
path "*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list", "sudo"]
}
