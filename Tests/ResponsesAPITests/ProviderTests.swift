import NIOHTTP1
import Testing

@testable import ResponsesAPI

enum HTTPHeadersBuilder {
    static func make(_ pairs: [String: String]) -> HTTPHeaders {
        HTTPHeaders(pairs.map { ($0.key, $0.value) })
    }
}

@Suite struct ProviderTests {
    @Test func presetsUseTheirURLsAndKeys() {
        let environment = ["OPENAI_API_KEY": "k1", "MUME_API_KEY": "k2", "UMODELVERSE_API_KEY": "k3"]
        let openai = Provider.openai(environment: environment)
        #expect(openai.baseURL == "https://api.openai.com/v1")
        #expect(openai.apiKey == APIKey("k1"))
        let mume = Provider.mume(environment: environment)
        #expect(mume.baseURL == "https://mume.ai/api/v1")
        #expect(mume.apiKey == APIKey("k2"))
        let umodelverse = Provider.umodelverse(environment: environment)
        #expect(umodelverse.baseURL == "https://api.umodelverse.ai/v1")
        #expect(umodelverse.apiKey == APIKey("k3"))
        #expect(umodelverse.maxTokensField == .maxTokens)
        #expect(Provider.presetNames.allSatisfy { Provider.preset(named: $0, environment: environment) != nil })
        #expect(Provider.preset(named: "nope") == nil)
    }

    @Test func openAIEnvironmentIsHonouredAsTheSDKsDo() {
        let provider = Provider.openai(environment: ["OPENAI_BASE_URL": "http://localhost:8080/v1/", "OPENAI_API_KEY": " key ", "OPENAI_ORG_ID": "org_1"])
        #expect(provider.baseURL == "http://localhost:8080/v1/")
        #expect(provider.url("/responses") == "http://localhost:8080/v1/responses")
        #expect(provider.apiKey == APIKey("key"))
        #expect(provider.headers["OpenAI-Organization"] == "org_1")
        #expect(Provider.openai(environment: ["OPENAI_API_KEY": ""]).apiKey == nil)
        let custom = Provider.custom(baseURL: "http://127.0.0.1:1234/v1", environment: ["OPENAI_API_KEY": "k"])
        #expect(custom.apiKey == APIKey("k"))
        #expect(custom.requiresAPIKey == false)
    }

    @Test func queriesAreEscaped() {
        let provider = Provider.custom(baseURL: "http://h/v1", environment: [:])
        #expect(provider.url("/responses/r1", query: [("include[]", "a b"), ("stream", "true")]) == "http://h/v1/responses/r1?include%5B%5D=a%20b&stream=true")
    }
}
