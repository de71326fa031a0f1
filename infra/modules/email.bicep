// Alert email: an Email Communication Service with an Azure-managed sender domain
// (<guid>.azurecomm.net, ready at once, no DNS to verify), linked to a Communication
// Services resource whose endpoint the monitor calls with its managed identity.

param emailServiceName string

param communicationServiceName string

@description('Where ACS keeps email data at rest, e.g. United States or Europe.')
param dataLocation string

param tags object

resource emailService 'Microsoft.Communication/emailServices@2025-05-01' = {
  name: emailServiceName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
  }
}

resource managedDomain 'Microsoft.Communication/emailServices/domains@2025-05-01' = {
  parent: emailService
  // An Azure-managed domain must carry exactly this name.
  name: 'AzureManagedDomain'
  location: 'global'
  tags: tags
  properties: {
    domainManagement: 'AzureManaged'
    // Tracking rewrites links and adds pixels; an outage alert needs neither.
    userEngagementTracking: 'Disabled'
  }
}

resource communicationService 'Microsoft.Communication/communicationServices@2025-05-01' = {
  name: communicationServiceName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
    linkedDomains: [
      managedDomain.id
    ]
  }
}

output communicationServiceName string = communicationService.name
output endpoint string = 'https://${communicationService.properties.hostName}'
output senderAddress string = 'DoNotReply@${managedDomain.properties.mailFromSenderDomain}'
