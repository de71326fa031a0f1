// The monitor's secrets: the Slack bot token, the webhook signing secret and, when the
// monitor sends through an SMTP relay instead of ACS, the SMTP password. Operators put
// them here with `az keyvault secret set` (docs/deploy.md); the app reads them through
// Key Vault references in its app settings, so no secret value is ever a template
// parameter, an output or a literal in an app setting. The vault starts empty: the
// template neither creates nor reads a secret.
//
// Why each property is set as it is (pycep, which checkov and tests/infra use to read
// this file, refuses long comment blocks inside an object, so the reasons are here):
//
// - enableRbacAuthorization: Azure RBAC, not access policies. Who may read or write
//   secrets is a role assignment like every other grant of this deployment
//   (roles.bicep). The app's identity gets "Key Vault Secrets User", the role that
//   "Use Key Vault references as app settings" names for references
//   (https://learn.microsoft.com/azure/app-service/app-service-key-vault-references)
//   and whose ID the built-in roles table of "Provide access to Key Vault keys,
//   certificates, and secrets with Azure RBAC" gives
//   (https://learn.microsoft.com/azure/key-vault/general/rbac-guide).
// - enableSoftDelete, softDeleteRetentionInDays 90, enablePurgeProtection: Microsoft
//   recommends both for every vault
//   (https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview and
//   https://learn.microsoft.com/azure/key-vault/general/best-practices): a deleted
//   secret or vault can be recovered for 90 days and nobody can purge it sooner.
//   Purge protection cannot be turned off again; docs/deploy.md says what that means
//   when the resource group is deleted and recreated.
// - enabledFor*: false. Nothing but the app's references reads this vault; no VM,
//   disk encryption or ARM template deployment may fetch from it.
// - publicNetworkAccess Enabled, defaultAction Allow: a network-restricted vault works
//   only for an app with virtual network integration ("Access network-restricted
//   vaults" in the references document: the vault "shouldn't depend on the app's
//   public outbound IP addresses"; Flex Consumption gained network-restricted
//   references, through a virtual network, in October 2025). The monitor has no
//   virtual network: a VNet, private endpoint and private DNS zone would cost more
//   than the rest of the deployment to guard three secrets that already need an Entra
//   token and a role to read.

@description('Vault name: 3-24 letters, digits and hyphens, starting with a letter; globally unique.')
@minLength(3)
@maxLength(24)
param name string

param location string

param tags object

@description('Log Analytics workspace that keeps the vault audit log (who read or changed which secret).')
param workspaceId string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  // checkov:skip=CKV_AZURE_109:The app has no virtual network and Microsoft says a vault must not rely on an app's shared outbound addresses, so no firewall rule can name it; every request still needs an Entra token and an RBAC role.
  // checkov:skip=CKV_AZURE_189:Same reason: a Flex Consumption app without virtual network integration resolves its references over the vault's public endpoint; access is by Entra ID and RBAC only.
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// The audit trail: every secret read (the app resolving a reference) and every change
// (an operator setting or rotating a secret), kept with the monitor's own logs.
resource auditLog 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
