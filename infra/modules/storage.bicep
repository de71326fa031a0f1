// The monitor's one storage account: the Functions host's own blobs (keys, timer locks),
// the container Flex Consumption deploys the code package from, and the table that holds
// the monitor's state. Shared-key access is off, so every client, the host included,
// signs in with the app's managed identity.

@description('Storage account name: 3-24 lowercase letters and digits, globally unique.')
@minLength(3)
@maxLength(24)
param name string

param location string

param tags object

@description('Blob container Flex Consumption reads the deployment package from.')
param deploymentContainerName string

@description('Table that holds the monitor state (LVMBEAT_TABLE_NAME).')
param tableName string

resource storage 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: name
  location: location
  tags: tags
  // checkov:skip=CKV_AZURE_35:Flex Consumption without a virtual network reaches its storage over the public endpoint; every caller must sign in with Entra ID (shared keys are off).
  // checkov:skip=CKV_AZURE_59:Same reason: without a virtual network the Functions platform reaches this account over its public endpoint.
  // checkov:skip=CKV_AZURE_206:The account holds a few KiB of monitor state and host blobs that the next heartbeat or redeploy rewrites; zone or geo replication buys nothing.
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      services: {
        blob: {
          enabled: true
        }
        table: {
          enabled: true
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2024-01-01' = {
  parent: storage
  name: 'default'
}

resource table 'Microsoft.Storage/storageAccounts/tableServices/tables@2024-01-01' = {
  parent: tableService
  name: tableName
}

output name string = storage.name
output id string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output tableEndpoint string = storage.properties.primaryEndpoints.table
output deploymentContainerUrl string = '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
