// The one identity the function app acts as. User-assigned, so it exists before the app
// does: role assignments can be granted first and survive the app being recreated.

param name string

param location string

param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
